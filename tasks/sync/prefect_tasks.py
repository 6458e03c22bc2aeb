"""Thin Prefect tasks over the sync functions: build the client and engine, make one call."""

from __future__ import annotations

from uuid import UUID

from prefect import task
from prefect.artifacts import update_progress_artifact
from sqlalchemy import Engine

from tasks.jobber.client import JobberClient
from tasks.retry import transient_retries
from tasks.sync.accuracy import ResourceAccuracy, compare_resource
from tasks.sync.reconcile import ResourceResult, sync_resource
from tasks.sync.refresh import RefreshResult, refresh_record


def _client_and_engine() -> tuple[JobberClient, Engine]:
    from tasks.jobber.factory import get_jobber_client
    from tasks.store.db import get_engine

    return get_jobber_client(), get_engine()


@task(name="sync-resource", task_run_name="sync {resource} ({mode})")
def sync_resource_task(
    resource: str, mode: str = "incremental", progress_id: UUID | None = None, done: int = 0, total: int = 1
) -> ResourceResult:
    """Sync one resource; moves the run's progress artifact as pages are committed."""
    client, engine = _client_and_engine()

    def on_page(_resource: str, _records: int, pages: int) -> None:
        if progress_id is not None:
            # Jobber gives no cheap total, so the share of the current resource fills asymptotically.
            within = pages / (pages + 10)
            update_progress_artifact(progress_id, progress=100 * (done + within) / total)

    return sync_resource(client, engine, resource, full=mode == "full", progress=on_page)


@task(name="refresh-record", task_run_name="refresh {topic} {item_id}", **transient_retries(2, 10, 30))
def refresh_record_task(topic: str, item_id: str) -> RefreshResult:
    """Refetch the record one webhook names (idempotent, so safe to retry)."""
    client, engine = _client_and_engine()
    return refresh_record(client, engine, topic=topic, item_id=item_id)


@task(name="compare-resource", task_run_name="compare {resource} with Jobber")
def compare_resource_task(resource: str, sample: int = 20) -> ResourceAccuracy:
    """Counts and a field-by-field sample of one resource, Jobber vs database."""
    client, engine = _client_and_engine()
    return compare_resource(client, engine, resource, sample=sample)
