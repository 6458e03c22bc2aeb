"""`jobberflow demo`: the whole stack on this machine against the sandbox (``sandbox.demo``, loaded when it runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import console


def demo(
    once: Annotated[bool, typer.Option(help="Exit after the first run instead of keeping the services up.")] = False,
    prefect_port: int = 4200,
    sandbox_port: int = 8900,
) -> None:
    """Run everything on this machine: Prefect server (SQLite), the Jobber sandbox, and a first flow run."""
    from sandbox.demo import run_demo

    run_demo(once=once, prefect_port=prefect_port, sandbox_port=sandbox_port, console=console)
