"""The setup guide's testing checklist, end to end, as a contractor would walk through it.

Something happens in Jobber (the sandbox) -> Jobber's signed webhook reaches the gateway (real uvicorn, real
HMAC) -> 200 and a row in the inbox -> the relay wakes the event worker (`jobberflow worker`, a real process
serving Prefect background tasks) and shows the event in Prefect's feed -> one task run refreshes the
database and posts to Slack (the real slack-sdk against a local Slack endpoint) -> `/jobber ...` in Slack
(signed) lists the record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa

from tests.gateway.test_webhooks_support import inbox_rows
from tests.slack.conftest import FakeSlack, fake_slack  # noqa: F401 - the local Slack endpoint fixture

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parents[2]
SLACK_SECRET = "8f14e45fceea167a5a36dedd4bea2543"  # noqa: S105 - a test value
CHANNEL = "#jobber"
REVIEW_SETTINGS = {"review_link": "https://g.page/r/setup/review", "delay_minutes": 0, "quiet_hours_enabled": False}


class _Gateway:
    """The gateway served by uvicorn in a thread on a free loopback port (as `jobberflow gateway` does)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> _Gateway:
        self.thread.start()
        _wait(lambda: self.server.started, 15, "the gateway did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()


@dataclass
class Checklist:
    """Everything the checklist drives: the sandbox (Jobber), the gateway, the database and Slack."""

    sandbox: Any
    gateway_url: str
    db_url: str
    slack: FakeSlack
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def engine(self) -> sa.Engine:
        from tasks.store.db import get_engine

        return get_engine(self.db_url)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _reset_caches() -> None:
    from tasks.delivery.factory import reset_channel_cache
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache

    reset_settings_cache()
    reset_jobber_clients()
    reset_channel_cache()


@contextmanager
def _event_worker(tmp_path: Path) -> Iterator[None]:
    """`jobberflow worker` in its own process, talking to the session's Prefect server (as users run it)."""
    from prefect.settings import PREFECT_API_URL

    from deployments.processes import spawn, stop

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONPATH": str(ROOT),
           "PREFECT_LOGGING_LEVEL": "INFO"}  # fmt: skip
    log = tmp_path / "worker.log"
    proc = spawn([sys.executable, "-m", "deployments.cli", "worker"], env=env, log_path=log)
    try:
        _wait(lambda: "Subscribing to runs" in log.read_text(errors="replace") or proc.poll() is not None, 90,
              "the event worker did not start")  # fmt: skip
        assert proc.poll() is None, f"the event worker exited: {log.read_text(errors='replace')[-2000:]}"
        yield
    finally:
        stop(proc, timeout=10)


@pytest.fixture
def checklist(
    prefect_server: None,
    fake_slack: FakeSlack,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Checklist]:
    """The guide's setup: environment variables, `jobberflow db upgrade`, the gateway, Jobber pointed at it."""
    from deployments.gateway.app import create_app
    from sandbox.jobber import SandboxConfig, SandboxServer
    from tasks.settings import get_settings
    from tasks.store.db import dispose_engines, get_engine
    from tasks.store.migrate import upgrade_database

    db_url = f"sqlite:///{tmp_path / 'jobberflow.db'}"
    cfg = SandboxConfig(seed=23, clients=8, jobs=12, invoices=6, quotes=4)
    env = {
        "DATABASE_URL": db_url,
        "JOBBERFLOW_HOME": str(tmp_path),
        "JOBBER_API_SECRET": cfg.client_secret,  # the guide's name for the secret Jobber signs webhooks with
        "SLACK_BOT_TOKEN": "xoxb-1-setup-guide",
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_DEFAULT_CHANNEL": CHANNEL,
        "SLACK_BASE_URL": fake_slack.url,
        "JOBBERFLOW_PARAMETER_OVERRIDES": json.dumps({"jobber-events": {"settings": REVIEW_SETTINGS}}),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_REFRESH_TOKEN", "JOBBER_WEBHOOK_SECRET"):
        monkeypatch.setenv(name, "")
    for name in ("JOBBER_ACCOUNT_ID", "SLACK_CHANNELS", "JOBBERFLOW_GATEWAY_RELAY"):
        monkeypatch.delenv(name, raising=False)
    _reset_caches()
    upgrade_database(db_url)
    try:
        app = create_app(get_settings(), engine=get_engine(db_url), relay=True)
        with _Gateway(app) as gateway:
            assert httpx.get(gateway.url + "/healthz").json()["status"] == "ok", "the gateway is not healthy"
            cfg.webhook_url = gateway.url + "/webhooks/jobber"
            with SandboxServer(cfg) as sandbox:
                monkeypatch.setenv("JOBBER_BASE_URL", sandbox.url)
                monkeypatch.setenv("JOBBER_API_KEY", sandbox.issue_tokens()["access_token"])
                _reset_caches()
                with _event_worker(tmp_path):
                    yield Checklist(sandbox, gateway.url, db_url, fake_slack)
    finally:
        _reset_caches()
        dispose_engines()


# -- the chain, one step at a time ----------------------------------------------------------------------------


def _webhook_answered_and_stored(cl: Checklist, topic: str, item_id: str) -> None:
    """Jobber's webhook got a 200 from the gateway and sits in the inbox, then the relay sends it to Prefect."""
    assert cl.sandbox.store.flush_webhooks(20), "Jobber still has webhooks in flight after 20 s"
    deliveries = [e for e in cl.sandbox.store.webhook_log if e.topic == topic and e.item_id == item_id]
    assert [e.status_code for e in deliveries] == [200], f"Jobber's {topic} webhook was not answered 200 once"
    stored = [r for r in inbox_rows(cl.db_url) if r["topic"] == topic and r["item_id"] == item_id]
    assert len(stored) == 1, f"the gateway did not keep the {topic} webhook in its inbox"
    _wait(
        lambda: all(r["relayed_at"] is not None for r in inbox_rows(cl.db_url)),
        30,
        "the gateway did not relay its inbox to Prefect within 30 s",
    )


def _prefect_event(resource_id: str, name: str, *, since: datetime, timeout: float = 30.0) -> Any:
    """The one event `name` about `resource_id` since `since`, read back from the Prefect server (persisted
    asynchronously; the session's other tests may have sent events about the same seeded ids before)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventOccurredFilter, EventResourceFilter

    deadline = time.monotonic() + timeout
    while True:
        now = datetime.now(UTC)
        with get_client(sync_client=True) as client:
            page = client.read_events(
                filter=EventFilter(
                    occurred=EventOccurredFilter(since=since, until=now + timedelta(hours=1)),
                    resource=EventResourceFilter(id=[resource_id]),
                ),
                limit=50,
            )
        found = [e for e in page.events if e.event == name]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(found) == 1, f"Prefect has {len(found)} `{name}` events about {resource_id}, not one"
    return found[0]


def _handled(cl: Checklist, topic: str, item_id: str, resource: str, name: str) -> str:
    """The webhook was stored, shown in Prefect's event feed, and its work done by the event worker: the
    one-line outcome the worker recorded on its inbox row."""
    _webhook_answered_and_stored(cl, topic, item_id)
    event = _prefect_event(f"jobber.{resource}.{item_id}", name, since=cl.started)
    assert event.payload["topic"] == topic and event.payload["itemId"] == item_id
    assert event.payload["accountId"] == cl.sandbox.store.account_id

    def done() -> bool:
        return all(r["work_state"] in ("done", "none") for r in inbox_rows(cl.db_url))

    _wait(done, 60, f"the event worker did not handle {topic} within 60 s")
    (row,) = [r for r in inbox_rows(cl.db_url) if r["topic"] == topic and r["item_id"] == item_id]
    return str(row["outcome"])


def _event_task_runs(*, since: datetime) -> int:
    """Task runs of the event worker's task created since `since` (what the Prefect UI lists)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(limit=200)
    return sum(1 for r in runs if r.task_key.startswith("handle_jobber_events") and r.created and r.created >= since)


def _slash(cl: Checklist, text: str) -> dict[str, Any]:
    """`/jobber <text>` typed in Slack: Slack signs the form with the app's signing secret (v0) and posts it."""
    body = urlencode(
        {
            "team_id": "T0001",
            "channel_id": "C0001",
            "user_id": "U0001",
            "command": "/jobber",
            "text": text,
            "response_url": "https://hooks.slack.com/commands/T0001/1/setupguide",
            "trigger_id": "1.2.3",
        }
    ).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    started = time.monotonic()
    response = httpx.post(cl.gateway_url + "/slack/commands", content=body, headers=headers, timeout=10)
    assert response.status_code == 200, f"`/jobber {text}` got HTTP {response.status_code} in Slack"
    assert time.monotonic() - started < 3, f"`/jobber {text}` took longer than Slack's 3 seconds"
    answer: dict[str, Any] = response.json()
    assert answer["response_type"] == "ephemeral", f"`/jobber {text}` would be shown to the whole channel"
    return answer


def _listed(answer: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if b.get("type") == "section")


def _row(cl: Checklist, table: str, item_id: str) -> dict[str, Any] | None:
    with cl.engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT * FROM {table} WHERE id = :id"), {"id": item_id}).mappings().first()  # noqa: S608
    return dict(row) if row else None


def _new_slack_posts(cl: Checklist, seen: int) -> list[dict[str, Any]]:
    return cl.slack.posts[seen:]


# -- the checklist --------------------------------------------------------------------------------------------


def test_a_new_client_in_jobber_reaches_the_database_and_slack(checklist: Checklist) -> None:
    cl = checklist
    client = cl.sandbox.store.create_client(
        first_name="Priya", last_name="Ramaswamy", email="priya@example.com", phone="+15125550199"
    )
    outcome = _handled(cl, "CLIENT_CREATE", client.id, "client", "jobber.client.create")
    assert outcome.startswith("refresh: created"), f"the new client was not copied into the database: {outcome}"
    row = _row(cl, "clients", client.id)
    assert row is not None and row["name"] == "Priya Ramaswamy", "the database has no row for the new client"
    assert row["primary_email"] == "priya@example.com", "the synced client lost its email"

    assert "slack: queued" in outcome, f"no Slack notification: {outcome}"
    _wait(lambda: len(cl.slack.posts) >= 1, 30, "the Slack message was not posted")
    (post,) = _new_slack_posts(cl, 0)
    assert post["channel"] == CHANNEL and "New client: Priya Ramaswamy" in post["text"], "no Slack message"
    assert cl.slack.calls[-1].authorization == "Bearer xoxb-1-setup-guide", "Slack was not called with the bot token"

    listed = _listed(_slash(cl, "clients Ramaswamy"))
    assert "Priya Ramaswamy" in listed, "`/jobber clients Ramaswamy` does not list the new client"


def test_a_closed_job_and_its_paid_invoice_reach_the_database_and_slack(checklist: Checklist) -> None:
    cl = checklist
    store = cl.sandbox.store
    job = next(j for j in store.jobs if j.job_status != "archived" and j.client is not None and j.total > 0)

    # 2a. close the job
    before = datetime.now(UTC)
    webhooks = len(store.events)
    store.close_job(job_id=job.id)
    outcome = _handled(cl, "JOB_CLOSED", job.id, "job", "jobber.job.closed")
    webhooks = len(store.events) - webhooks
    runs = _event_task_runs(since=before)
    assert webhooks >= 2 and 1 <= runs < webhooks, f"{webhooks} webhooks started {runs} runs: not one per webhook"
    assert outcome.startswith("refresh: created"), f"the closed job was not copied into the database: {outcome}"
    row = _row(cl, "jobs", job.id)
    assert row is not None and row["job_status"] == "archived", "the closed job is not archived in the database"
    _wait(lambda: len(cl.slack.posts) >= 1, 30, "the Slack message was not posted")
    (post,) = _new_slack_posts(cl, 0)
    assert f"Job #{job.job_number} closed: {job.title}" in post["text"], "no Slack message for the closed job"
    assert f"#{job.job_number} {job.title}" in _listed(_slash(cl, "jobs")), "`/jobber jobs` misses the closed job"

    # 2b. invoice the job: a new invoice
    invoice = store.create_invoice(job_id=job.id)
    outcome = _handled(cl, "INVOICE_CREATE", invoice.id, "invoice", "jobber.invoice.create")
    assert outcome.startswith("refresh: created"), f"the new invoice was not copied into the database: {outcome}"
    _wait(lambda: len(cl.slack.posts) >= 2, 30, "the Slack message was not posted")
    (post,) = _new_slack_posts(cl, 1)
    assert f"New invoice #{invoice.invoice_number}" in post["text"], "no Slack message for the new invoice"

    # 2c. the client pays it: PAYMENT_CREATE and INVOICE_UPDATE, one "paid" message between them
    store.mark_invoice_paid(invoice.id)
    payment = invoice.payment_records[-1]
    _handled(cl, "INVOICE_UPDATE", invoice.id, "invoice", "jobber.invoice.update")
    _handled(cl, "PAYMENT_CREATE", payment.id, "payment", "jobber.payment.create")
    _wait(lambda: len(cl.slack.posts) >= 3, 30, "the 'invoice paid' Slack message was not posted")
    time.sleep(1)  # a second "paid" message would show up now
    row = _row(cl, "invoices", invoice.id)
    assert row is not None and row["invoice_status"] == "paid", "the paid invoice is not `paid` in the database"
    paid_posts = [p for p in _new_slack_posts(cl, 2) if f"Invoice #{invoice.invoice_number} paid" in p["text"]]
    assert len(paid_posts) == 1, f"Slack got {len(paid_posts)} 'invoice paid' messages, not one"
    assert len(cl.slack.posts) == 3, "Slack got messages nobody asked for"
    listed = _listed(_slash(cl, "invoices paid"))
    assert f"Invoice #{invoice.invoice_number}" in listed, "`/jobber invoices paid` misses the paid invoice"
