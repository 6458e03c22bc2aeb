"""The relay against the session's real Prefect server: inbox rows become Prefect events, nothing is lost."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deployments.gateway.relay import build_event, event_id, relay_once
from tasks.errors import PrefectUnavailable
from tasks.store import inbox
from tasks.store.db import get_engine
from tests.gateway.test_webhooks_support import (
    close_gateway,
    inbox_rows,
    make_gateway,
    make_settings,
    post,
    signed_headers,
    webhook_body,
)

pytestmark = pytest.mark.prefect


def _read_events(prefix: str, *, expect: int, timeout: float = 30.0) -> list[Any]:
    """Events whose resource id starts with `prefix`, read back through Prefect's client (persisted async)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventOccurredFilter, EventResourceFilter

    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                filter=EventFilter(
                    occurred=EventOccurredFilter(
                        since=datetime.now(UTC) - timedelta(hours=1), until=datetime.now(UTC) + timedelta(hours=1)
                    ),
                    resource=EventResourceFilter(id_prefix=[prefix]),
                ),
                limit=50,
            )
        found = list(page.events)
        if len(found) >= expect:
            return found
        time.sleep(0.5)
    return found


def _store(db_url: str, *bodies: bytes) -> None:
    app = make_gateway(db_url)
    try:
        for body in bodies:
            assert post(app, body, signed_headers(body)).status_code == 200
    finally:
        close_gateway(app)


def test_build_event_names_resources_and_ids() -> None:
    entry = inbox.InboxEntry(
        id=7,
        dedupe_key="k" * 64,
        account_id="acc-1",
        topic="JOB_CLOSED",
        item_id="job-1",
        occurred_at="2025-01-24T15:30:00-06:00",
        received_at=datetime.now(UTC),
        relay_attempts=0,
    )
    event = build_event(entry)
    assert event["event"] == "jobber.job.closed"
    assert event["resource"]["prefect.resource.id"] == "jobber.job.job-1"
    assert event["related"] == [{"prefect.resource.id": "jobber.account.acc-1", "prefect.resource.role": "account"}]
    assert event["payload"] == {
        "topic": "JOB_CLOSED",
        "itemId": "job-1",
        "accountId": "acc-1",
        "occurredAt": "2025-01-24T15:30:00-06:00",
        "inboxId": 7,
    }
    assert event["id"] == str(event_id("k" * 64)) == build_event(entry)["id"]  # deterministic
    assert build_event(entry)["id"] != build_event(dataclasses.replace(entry, dedupe_key="j" * 64))["id"]


def test_rows_become_prefect_events(prefect_server: None, db_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    bodies = [
        webhook_body("JOB_CLOSED", item_id=f"job-{run}", account_id=f"acc-{run}"),
        webhook_body("INVOICE_UPDATE", item_id=f"inv-{run}", account_id=f"acc-{run}"),
        webhook_body("PRODUCT_OR_SERVICE_CREATE", item_id=f"pos-{run}", account_id=f"acc-{run}"),
    ]
    _store(db_url, *bodies)
    engine = get_engine(db_url)
    assert relay_once(engine) == 3
    assert all(r["relayed_at"] is not None for r in inbox_rows(db_url))
    assert relay_once(engine) == 0  # nothing left

    jobs = _read_events(f"jobber.job.job-{run}", expect=1)
    assert [e.event for e in jobs] == ["jobber.job.closed"]
    job = jobs[0]
    row = next(r for r in inbox_rows(db_url) if r["topic"] == "JOB_CLOSED")
    assert str(job.id) == str(event_id(row["dedupe_key"]))
    assert job.resource.id == f"jobber.job.job-{run}"
    assert [(r.id, r.role) for r in job.related] == [(f"jobber.account.acc-{run}", "account")]
    assert job.payload == {
        "topic": "JOB_CLOSED",
        "itemId": f"job-{run}",
        "accountId": f"acc-{run}",
        "occurredAt": "2025-01-24T15:30:00-06:00",
        "inboxId": row["id"],
    }
    assert [e.event for e in _read_events(f"jobber.invoice.inv-{run}", expect=1)] == ["jobber.invoice.update"]
    assert [e.event for e in _read_events(f"jobber.product_or_service.pos-{run}", expect=1)] == [
        "jobber.product_or_service.create"
    ]


def test_a_row_relayed_twice_is_one_prefect_event(prefect_server: None, db_url: str) -> None:
    run = uuid.uuid4().hex[:8]
    _store(db_url, webhook_body("QUOTE_APPROVED", item_id=f"quote-{run}"))
    engine = get_engine(db_url)
    assert relay_once(engine) == 1
    # as if the UPDATE after Prefect's 204 had been lost: the same row goes out again
    with engine.begin() as conn:
        conn.execute(inbox._TABLE.update().values(relayed_at=None))
    assert relay_once(engine) == 1
    time.sleep(2)
    events = _read_events(f"jobber.quote.quote-{run}", expect=2, timeout=8)
    assert [e.event for e in events] == ["jobber.quote.approved"]


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_prefect_down_keeps_rows_then_delivers_everything(prefect_server: None, db_url: str) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    run = uuid.uuid4().hex[:8]
    _store(db_url, *(webhook_body("CLIENT_CREATE", item_id=f"client-{run}-{i}") for i in range(5)))
    engine = get_engine(db_url)
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{_dead_port()}/api"}):
        for _ in range(3):
            with pytest.raises(PrefectUnavailable):
                relay_once(engine)
    rows = inbox_rows(db_url)
    assert len(rows) == 5
    assert all(r["relayed_at"] is None for r in rows)
    assert all(r["relay_attempts"] == 3 and "unreachable" in (r["last_error"] or "") for r in rows)
    backlog = inbox.backlog(engine)
    assert backlog.count == 5 and backlog.lag_seconds() >= 0

    # the API is back: everything is delivered
    assert relay_once(engine) == 5
    rows = inbox_rows(db_url)
    assert all(r["relayed_at"] is not None and r["last_error"] is None for r in rows)
    assert inbox.backlog(engine).count == 0
    events = _read_events(f"jobber.client.client-{run}", expect=5)
    assert sorted(e.resource.id for e in events) == sorted(f"jobber.client.client-{run}-{i}" for i in range(5))


class _Uvicorn:
    """The gateway served by uvicorn in a thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> _Uvicorn:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def wait_for() -> Callable[[Callable[[], bool], float], None]:
    def wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not reached in time"
            time.sleep(0.1)

    return wait


def test_setup_guide_end_to_end_sandbox_close_job_becomes_a_prefect_event(
    prefect_server: None, db_url: str, wait_for: Callable[[Callable[[], bool], float], None]
) -> None:
    """Sandbox (webhook_url = the gateway under uvicorn) -> close a job -> 200, stored -> `jobber.job.closed`."""
    from deployments.gateway.app import create_app
    from sandbox.jobber import SandboxConfig, SandboxServer

    secret = "sandbox-e2e-secret"  # noqa: S105 - test value
    app = create_app(make_settings(db_url, jobber_client_secret=secret), engine=get_engine(db_url), relay=True)
    with _Uvicorn(app) as gateway:
        assert httpx.get(gateway.url + "/healthz").json()["status"] == "ok"
        cfg = SandboxConfig(seed=11, client_secret=secret, webhook_url=gateway.url + "/webhooks/jobber/webhooks")
        with SandboxServer(cfg) as sb:
            job = next(j for j in sb.store.jobs if j.job_status != "archived")
            sb.store.close_job(job_id=job.id)
            assert sb.store.flush_webhooks(20)
            closed = [e for e in sb.store.webhook_log if e.topic == "JOB_CLOSED"]
            assert [(e.status_code, e.ok) for e in closed] == [(200, True)]
            account_id = sb.store.account_id
        rows = [r for r in inbox_rows(db_url) if r["topic"] == "JOB_CLOSED"]
        assert [r["item_id"] for r in rows] == [job.id]
        wait_for(lambda: all(r["relayed_at"] is not None for r in inbox_rows(db_url)), 30)
    wanted = str(event_id(rows[0]["dedupe_key"]))
    events = _read_events(f"jobber.job.{job.id}", expect=1)
    deadline = time.monotonic() + 30
    while wanted not in {str(e.id) for e in events} and time.monotonic() < deadline:
        time.sleep(0.5)
        events = _read_events(f"jobber.job.{job.id}", expect=1)
    closed_events = [e for e in events if str(e.id) == wanted]
    assert [e.event for e in closed_events] == ["jobber.job.closed"]
    assert closed_events[0].related[0].id == f"jobber.account.{account_id}"
    assert closed_events[0].payload["itemId"] == job.id


def test_a_stalled_event_worker_is_reported_to_prefect_for_the_deployment_trigger(
    prefect_server: None, db_url: str
) -> None:
    from deployments.gateway.relay import STALLED_EVENT, Relay

    Relay(get_engine(db_url)).report_stalled(7)
    (event,) = [e for e in _read_events("jobberflow.relay", expect=1) if e.event == STALLED_EVENT][:1]
    assert event.payload == {"waiting": 7}
