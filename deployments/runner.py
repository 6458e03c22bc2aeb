"""The local runner: serves every deployment of prefect.yaml from this process (the embedded default).

prefect.yaml stays the one place where deployments are described: `prefect deploy --all` registers them
on a server with work pools, and this runner reads the same file and serves them with `prefect.serve`,
schedules and event triggers included, so a contractor's edit takes effect in both. One exception: the
review settings of jobber-events, which Prefect holds once the deployment exists; the runner registers it
with the stored ones (tasks/reviews/settings_source.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from tasks.deployment_specs import (  # noqa: F401 - re-exported: the runner's public names
    PREFECT_YAML,
    PROJECT_DIR,
    deployment_parameters,
    merge_parameters,
    parameter_overrides,
    read_deployment_specs,
)


def _schedules(spec: dict[str, Any]) -> list[Any]:
    from prefect.schedules import Cron, Interval

    schedules = []
    for item in spec.get("schedules") or []:
        active = bool(item.get("active", True))
        if "cron" in item:
            schedules.append(Cron(item["cron"], timezone=item.get("timezone"), active=active))
        elif "interval" in item:
            schedules.append(
                Interval(dt.timedelta(seconds=float(item["interval"])), timezone=item.get("timezone"), active=active)
            )
    return schedules


def build_runner_deployments(
    path: Path = PREFECT_YAML, names: list[str] | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> list[Any]:
    """RunnerDeployments for the entries of prefect.yaml (all, or those named), parameters overridden."""
    from prefect.events import DeploymentEventTrigger
    from prefect.flows import load_flow_from_entrypoint

    deployments = []
    for spec in read_deployment_specs(path):
        if names and spec["name"] not in names:
            continue
        flow: Any = load_flow_from_entrypoint(str(PROJECT_DIR / spec["entrypoint"]))
        triggers = [DeploymentEventTrigger(**t) for t in spec.get("triggers") or []]
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                parameters=merge_parameters(spec.get("parameters") or {}, (overrides or {}).get(spec["name"], {})),
                schedules=_schedules(spec),
                triggers=triggers or None,
                enforce_parameter_schema=bool(spec.get("enforce_parameter_schema", True)),
                concurrency_limit=spec.get("concurrency_limit"),
                tags=spec.get("tags"),
            )
        )
    return deployments


def serve_all(names: list[str] | None = None, *, limit: int | None = None) -> None:
    """Serve the deployments (blocks). Poll often: latency from an event to its run matters here."""
    from prefect import serve

    from tasks.reviews.settings_source import DEPLOYMENT, PARAMETER, settings_to_register
    from tasks.store.migrate import upgrade_database

    upgrade_database()  # process start: the runs it serves check the schema, never migrate
    deployments = build_runner_deployments(names=names, overrides=parameter_overrides())
    for deployment in deployments:
        if deployment.name == DEPLOYMENT:
            # Prefect holds the review settings once the deployment exists: registering it again must not
            # put prefect.yaml's back over an edit made in the UI.
            stored = settings_to_register()
            if stored is not None:
                deployment.parameters[PARAMETER] = stored
    serve(*deployments, limit=limit)
