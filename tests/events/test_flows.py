"""The event path in Prefect (the session's test server): the background task names itself after what it
did and leaves one artifact row per event; the jobber-events sweep handles what a lost wake-up left."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.jobber import SandboxServer
from tests.reviews.conftest import FLOW_SETTINGS

pytestmark = pytest.mark.prefect

SETTINGS = FLOW_SETTINGS  # the settings the configured fixture gives the jobber-events deployment


def _close_and_store(sb: SandboxServer, job_number: int, *, received_at: datetime) -> None:
    from tasks.events.routing import initial_state
    from tasks.store import inbox
    from tasks.store.db import get_engine

    job = next(j for j in sb.store.jobs if j.job_number == job_number)
    since = len(sb.store.events)
    sb.store.close_job(job_id=job.id)
    rows = [
        inbox.InboxRow(
            hashlib.sha256(f"{e.topic}{e.item_id}{e.seq}".encode()).hexdigest(),
            e.account_id,
            e.topic,
            e.item_id,
            e.occurred_at,
            "{}",
            received_at,
            initial_state(e.topic),
        )  # fmt: skip
        for e in sb.store.events[since:]
    ]
    inbox.store_rows(get_engine(), rows)


def _sms(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp / "outbox").glob("sms-*.json"))]


def test_the_event_task_names_its_run_and_leaves_a_row_per_event(configured: SandboxServer, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from flows.jobber_events import handle_jobber_events

    _close_and_store(configured, 1042, received_at=datetime.now(UTC))
    state = handle_jobber_events(return_state=True)  # type: ignore[call-arg]
    summary = state.result()
    assert summary["sent"] == 1 and summary["events"] >= 2
    (sms,) = _sms(tmp_path)
    assert sms["body"].startswith("Hi John! How was your Water Heater Installation with Mike?")
    with get_client(sync_client=True) as client:
        run = client.read_task_run(state.state_details.task_run_id)  # type: ignore[arg-type]
        expected = "jobber events: JOB_CLOSED job #1042 Water Heater Installation (sent -> John S."
        assert run.name.startswith(expected), run.name
        artifacts = [a for a in client.read_artifacts() if a.key == "jobber-events" and a.task_run_id == run.id]
    assert len(artifacts) == 1
    rows = artifacts[0].data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert any(r["topic"] == "JOB_CLOSED" and r["review request"].startswith("sent -> John S.") for r in rows)


def test_the_sweep_handles_events_a_lost_wake_up_left_behind(configured: SandboxServer, tmp_path: Path) -> None:
    from flows.jobber_events import jobber_events

    _close_and_store(configured, 1042, received_at=datetime.now(UTC) - timedelta(minutes=5))
    _close_and_store(configured, 1043, received_at=datetime.now(UTC))  # fresh: the instant path's
    handled = jobber_events(settings=SETTINGS, stale_after_seconds=60)  # type: ignore[arg-type]
    assert handled >= 2
    assert [m["body"][:7] for m in _sms(tmp_path)] == ["Hi John"], "the sweep took a fresh event or missed one"
    assert jobber_events(settings=SETTINGS, stale_after_seconds=60) == 0  # type: ignore[arg-type]
