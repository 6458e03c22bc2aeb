"""Prefect's scheduler makes flow runs for the scheduled deployments of prefect.yaml (the jobber-events
sweep, the polling fallback and the dispatchers depend on it), against a real `prefect server start`:
with SQLAlchemy 2.1 prefect 3.8.8's scheduler failed on every pass ("Can't evaluate bulk DML statement")
and made no run at all. (The test harness's server runs no scheduler, hence a server of its own.)"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_scheduler_makes_runs_for_a_scheduled_deployment(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.processes import spawn, stop
    from deployments.runner import build_runner_deployments

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "2"}  # fmt: skip
    log = tmp_path / "prefect.log"
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = spawn(cmd, env=env, log_path=log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(api + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the Prefect server did not start: {log.read_text(errors='replace')[-2000:]}")
        with temporary_settings(updates={PREFECT_API_URL: api}):
            (deployment,) = build_runner_deployments(names=["review-dispatch"])
            deployment_id = deployment.apply()
            runs: list[object] = []
            with get_client(sync_client=True) as client:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and not runs:
                    runs = client.read_flow_runs(
                        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
                    )
                    time.sleep(1)
        assert runs, "Prefect's scheduler made no run: " + log.read_text(errors="replace")[-1500:]
        assert "Can't evaluate bulk DML" not in log.read_text(errors="replace")
    finally:
        stop(server, timeout=15)
