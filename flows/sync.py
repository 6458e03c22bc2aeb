"""Flows: sync Jobber into the database (scheduled reconciliation / backfill), refresh one record per
webhook event, and report the copy's accuracy. Orchestration only: the logic is in tasks/sync/."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact

from tasks.store.migrate import require_current_schema
from tasks.sync.accuracy import COMPARED, accuracy_markdown
from tasks.sync.prefect_tasks import compare_resource_task, refresh_record_task, sync_resource_task
from tasks.sync.reconcile import RESOURCES, ResourceResult


def summary_rows(results: list[ResourceResult]) -> list[dict[str, Any]]:
    """One artifact row per resource and per table it wrote (jobs also write properties and visits)."""
    rows: list[dict[str, Any]] = []
    for r in results:
        tables = sorted(set(r.created) | set(r.updated) | set(r.unchanged) | {r.resource})
        for table in tables:
            main = table == r.resource
            rows.append(
                {
                    "resource": r.resource if main else f"{r.resource} -> {table}",
                    "mode": r.mode + (" (resumed)" if r.resumed and main else ""),
                    "created": r.created.get(table, 0),
                    "updated": r.updated.get(table, 0),
                    "unchanged": r.unchanged.get(table, 0),
                    "deleted": r.deleted if main else 0,
                    "api_calls": r.api_calls if main else "",
                    "query_cost": round(r.cost) if main else "",
                    "throttled": r.throttled if main else "",
                    "seconds": round(r.seconds, 1) if main else "",
                    "not_stored_or_odd": len(r.issues) if main else "",
                }
            )
    return rows


@flow(name="jobber-sync", flow_run_name="jobber sync: {mode}")
def jobber_sync(mode: str = "incremental", resources: list[str] | None = None) -> list[ResourceResult]:
    """Copy Jobber's records into the database. `mode`: "incremental" (default) or "full" (backfill and
    delete what Jobber no longer has). Leaves a progress artifact while it runs and a summary table."""
    if mode not in ("incremental", "full"):
        raise ValueError(f"mode must be 'incremental' or 'full', not {mode!r}")
    chosen = [r for r in (resources or list(RESOURCES)) if r != "properties" or mode == "full"]
    unknown = sorted(set(chosen) - set(RESOURCES))
    if unknown:
        raise ValueError(f"unknown resources {unknown}; choose from {list(RESOURCES)}")
    require_current_schema()
    progress_id = create_progress_artifact(progress=0.0, description=f"jobber sync ({mode})")
    results: list[ResourceResult] = []
    for i, resource in enumerate(chosen):
        results.append(
            sync_resource_task(resource, mode=mode, progress_id=progress_id, done=i, total=len(chosen))  # type: ignore[arg-type]
        )
    from prefect.artifacts import update_progress_artifact

    update_progress_artifact(progress_id, progress=100.0)  # type: ignore[arg-type]
    create_table_artifact(
        key="jobber-sync-summary",
        table=summary_rows(results),
        description=f"Jobber sync ({mode}): {sum(r.records for r in results)} records read",
    )
    issues = [i for r in results for i in r.issues]
    if issues:
        create_table_artifact(
            key="jobber-sync-issues",
            table=[{"resource": i.resource, "id": i.record_id or "", "problem": i.problem} for i in issues[:500]],
            description=f"{len(issues)} records stored with problems or not stored",
        )
        get_run_logger().warning("%d records had problems; see the jobber-sync-issues artifact", len(issues))
    return results


@flow(name="jobber-refresh-record", flow_run_name="refresh {topic} {item_id}")
def jobber_refresh_record(topic: str, item_id: str, account_id: str | None = None) -> str:
    """Triggered by a Jobber webhook event: refetch the one record it names (delete it on *_DESTROY)."""
    require_current_schema()
    result = refresh_record_task(topic, item_id)
    get_run_logger().info("%s %s: %s %s", topic, item_id, result.resource, result.action)
    return result.action


@flow(name="jobber-sync-accuracy", flow_run_name="sync accuracy (sample {sample})")
def jobber_sync_accuracy(sample: int = 20) -> float:
    """Compare Jobber with the database (counts + a field-by-field sample); publish the report."""
    reports = [compare_resource_task(resource, sample=sample) for resource in COMPARED]
    create_markdown_artifact(key="jobber-sync-accuracy", markdown=accuracy_markdown(reports))
    sampled = sum(r.sampled for r in reports)
    return sum(r.matching for r in reports) / sampled if sampled else 1.0
