"""The sync and connection-check flows as real Prefect flow runs: results, run names and artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.jobber import SandboxConfig, SandboxServer

pytestmark = pytest.mark.prefect


@pytest.fixture
def configured(prefect_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache
    from tasks.store.db import dispose_engines
    from tasks.store.migrate import upgrade_database

    with SandboxServer(SandboxConfig(seed=31, clients=30, jobs=40, invoices=20, quotes=8, users=3)) as server:
        monkeypatch.setenv("JOBBERFLOW_HOME", str(tmp_path))
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'flows.db'}")
        monkeypatch.setenv("JOBBER_BASE_URL", server.url)
        monkeypatch.setenv("JOBBER_API_KEY", server.issue_tokens()["access_token"])
        for variable in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_API_SECRET", "JOBBER_REFRESH_TOKEN"):
            monkeypatch.delenv(variable, raising=False)
        reset_settings_cache()
        reset_jobber_clients()
        upgrade_database()  # as `jobberflow db upgrade` or a process start does: flow runs only check
        yield server
        reset_jobber_clients()
        reset_settings_cache()
        dispose_engines()


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key or a.type: a for a in found}


def test_full_sync_flow_leaves_summary_and_finished_progress(configured: SandboxServer) -> None:
    from flows.sync import jobber_sync

    state = jobber_sync(mode="full", return_state=True)
    results = state.result()
    assert {r.resource for r in results} == {"users", "clients", "properties", "jobs", "invoices", "quotes"}
    artifacts = _artifacts(state.state_details.flow_run_id)
    summary = artifacts["jobber-sync-summary"]
    assert summary.type == "table"
    assert "clients" in str(summary.data) and "api_calls" in str(summary.data)
    progress = artifacts["progress"]
    assert float(progress.data) == 100.0


def test_sync_flow_refuses_an_unknown_mode(configured: SandboxServer) -> None:
    from flows.sync import jobber_sync

    with pytest.raises(ValueError, match="incremental"):
        jobber_sync(mode="sometimes")


def test_refresh_flow_stores_the_closed_job(configured: SandboxServer) -> None:
    from sqlalchemy import select

    from flows.sync import jobber_refresh_record
    from tasks.store.db import get_engine, unit_of_work
    from tasks.store.models import Job

    job = next(j for j in configured.store.jobs if j.job_status != "archived")
    configured.store.close_job(job_id=job.id)
    assert jobber_refresh_record(topic="JOB_CLOSED", item_id=job.id) == "created"
    with unit_of_work(get_engine()) as session:
        assert session.scalars(select(Job.job_status).where(Job.id == job.id)).one() == "archived"


def test_connection_check_flow_publishes_the_overview(configured: SandboxServer) -> None:
    from flows.jobber_check import jobber_connection_check

    state = jobber_connection_check(max_jobs=40, return_state=True)
    overview = state.result()
    assert overview.account_name == "Evergreen Home Services" and overview.jobs_seen == 40
    markdown = _artifacts(state.state_details.flow_run_id)["jobber-account-overview"].data
    assert "Evergreen Home Services" in markdown and "| active |" in markdown
