"""`jobberflow serve`: the local runner, serving the deployments of prefect.yaml from this process."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_deployments(
    name: Annotated[list[str] | None, typer.Option(help="Only these deployments (repeatable).")] = None,
) -> None:
    """Serve every deployment of prefect.yaml (schedules and event triggers) from this process."""
    from deployments.runner import serve_all

    serve_all(names=name)
