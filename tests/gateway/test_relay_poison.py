"""One event Prefect refuses for good must not block the relay: the batch is split until the refused row is
isolated, the others are relayed, the refused row is set aside with its reason and reported. Unavailability
(5xx, unreachable, credentials) never sets a row aside."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine

from deployments.gateway.relay import PrefectUnavailable, relay_once
from tasks.store import inbox
from tasks.store.db import get_engine
from tests.gateway.test_webhooks_support import call, close_gateway, inbox_rows, make_gateway

METRICS_TOKEN = "metrics-token-for-tests-1234"  # noqa: S105 - a test value


class FakePrefect:
    """Prefect's `POST /api/events`: 204 for a batch it takes, 422 for a batch holding a refused item, or
    `status` for everything while set (an outage, wrong credentials)."""

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.status: int | None = None
        self.down_after: int | None = None  # answer 500 from this request on
        self.requests = 0
        self.accepted: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._answer(422, {"detail": "CSRF protection is disabled."})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests += 1
                    if fake.down_after is not None and fake.requests > fake.down_after:
                        return self._answer(500, {"detail": "down"})
                    if fake.status is not None:
                        return self._answer(fake.status, {"detail": "no"})
                    items = [e["payload"]["itemId"] for e in events]
                    if fake.refused.intersection(items):
                        return self._answer(422, {"detail": [{"msg": "event payload is too large"}]})
                    fake.accepted += items
                return self._answer(204)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prefect() -> Iterator[FakePrefect]:
    fake = FakePrefect()
    yield fake
    fake.close()


def _store(engine: Engine, items: list[str]) -> None:
    now = datetime.now(UTC)
    inbox.store_rows(
        engine,
        [
            inbox.InboxRow(
                dedupe_key=f"{i:064d}",
                account_id="acc",
                topic="CLIENT_UPDATE",
                item_id=item,
                occurred_at="2025-01-24T15:30:00-06:00",
                body="{}",
                received_at=now,
            )
            for i, item in enumerate(items)
        ],
    )


def _by_item(db_url: str) -> dict[str, dict[str, Any]]:
    return {r["item_id"]: r for r in inbox_rows(db_url)}


def test_one_refused_event_is_set_aside_and_every_other_row_is_relayed(db_url: str, prefect: FakePrefect) -> None:
    engine = get_engine(db_url)
    items = [f"client-{i}" for i in range(25)]
    _store(engine, items)
    prefect.refused = {"client-7"}

    assert relay_once(engine, api_url=prefect.url) == 24
    assert sorted(prefect.accepted) == sorted(i for i in items if i != "client-7")
    assert prefect.requests <= 2 * 5 + 1  # bisection: about 2 log2(25) requests, not one per row
    rows = _by_item(db_url)
    poison = rows.pop("client-7")
    assert poison["relayed_at"] is None and poison["relay_rejected_at"] is not None
    assert "HTTP 422" in poison["last_error"] and "too large" in poison["last_error"]
    assert all(r["relayed_at"] is not None and r["relay_rejected_at"] is None for r in rows.values())

    # set aside: never sent again, not counted as backlog, and later rows flow past it
    before = prefect.requests
    assert relay_once(engine, api_url=prefect.url) == 0
    assert prefect.requests == before
    assert inbox.backlog(engine).count == 0
    assert inbox.relay_rejections(engine) == 1


def test_refused_rows_in_several_batches_never_stop_the_rows_after_them(db_url: str, prefect: FakePrefect) -> None:
    engine = get_engine(db_url)
    items = [f"job-{i}" for i in range(30)]
    _store(engine, items)
    prefect.refused = {"job-3", "job-15", "job-16"}
    assert relay_once(engine, api_url=prefect.url, batch_size=10) == 27
    assert sorted(prefect.accepted) == sorted(set(items) - prefect.refused)
    assert inbox.relay_rejections(engine) == 3
    # released once Prefect takes them (say after an upgrade), they are relayed like any row
    prefect.refused = set()
    assert inbox.release_relay_rejections(engine) == 3
    assert relay_once(engine, api_url=prefect.url) == 3
    assert inbox.relay_rejections(engine) == 0 and inbox.backlog(engine).count == 0


@pytest.mark.parametrize("status", [500, 401, 403, 404])  # (Prefect's client itself retries 408, 429, 502, 503)
def test_unavailability_or_a_configuration_error_never_sets_a_row_aside(
    db_url: str, prefect: FakePrefect, status: int
) -> None:
    engine = get_engine(db_url)
    _store(engine, [f"visit-{i}" for i in range(6)])
    prefect.status = status
    for _ in range(3):
        with pytest.raises(PrefectUnavailable, match=f"HTTP {status}"):
            relay_once(engine, api_url=prefect.url)
    assert prefect.requests == 3  # no splitting: it is not about an event
    rows = inbox_rows(db_url)
    assert all(r["relay_rejected_at"] is None and r["relayed_at"] is None and r["relay_attempts"] == 3 for r in rows)
    prefect.status = None
    assert relay_once(engine, api_url=prefect.url) == 6


def test_prefect_going_down_while_a_batch_is_split_keeps_what_it_took(db_url: str, prefect: FakePrefect) -> None:
    engine = get_engine(db_url)
    items = [f"quote-{i}" for i in range(8)]
    _store(engine, items)
    prefect.refused = {"quote-7"}
    prefect.down_after = 2  # all 8: 422; the first half: 204; then 500
    with pytest.raises(PrefectUnavailable):
        relay_once(engine, api_url=prefect.url)
    rows = _by_item(db_url)
    assert [i for i in items if rows[i]["relayed_at"] is not None] == items[:4]
    assert all(rows[i]["relay_attempts"] == 1 and "HTTP 500" in rows[i]["last_error"] for i in items[4:])
    assert inbox.relay_rejections(engine) == 0
    prefect.down_after = None
    assert relay_once(engine, api_url=prefect.url) == 3
    assert inbox.relay_rejections(engine) == 1 and _by_item(db_url)["quote-7"]["relay_rejected_at"] is not None


def test_set_aside_rows_are_reported_in_healthz_and_metrics(db_url: str, prefect: FakePrefect) -> None:
    engine = get_engine(db_url)
    _store(engine, [f"invoice-{i}" for i in range(5)])
    prefect.refused = {"invoice-2"}
    assert relay_once(engine, api_url=prefect.url) == 4
    app = make_gateway(db_url, metrics_token=METRICS_TOKEN)
    try:
        health = call(app, lambda client: client.get("/healthz"))
        assert health.status_code == 200 and health.json()["relay_set_aside"] == 1
        metrics = call(app, lambda client: client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}))
        assert metrics.status_code == 200
        assert "gateway_relay_set_aside 1.0" in metrics.text
        assert "gateway_inbox_backlog 0.0" in metrics.text  # a set-aside row is not backlog
    finally:
        close_gateway(app)


def test_a_refused_row_is_logged_once(db_url: str, prefect: FakePrefect, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    engine = get_engine(db_url)
    _store(engine, [f"client-{i}" for i in range(4)])
    prefect.refused = {"client-1"}
    with caplog.at_level(logging.WARNING, logger="deployments.gateway.relay"):
        relay_once(engine, api_url=prefect.url)
        relay_once(engine, api_url=prefect.url)
    lines = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(lines) == 1 and "client-1" in lines[0] and "HTTP 422" in lines[0]


def test_retention_keeps_a_set_aside_row(db_url: str, prefect: FakePrefect) -> None:
    """A row set aside is kept (like failed work) until someone looks, however old it is."""
    from datetime import timedelta

    from sqlalchemy import update

    from tasks.events import queue
    from tasks.store.models import WebhookInbox

    engine = get_engine(db_url)
    _store(engine, ["old-ok", "old-refused"])
    prefect.refused = {"old-refused"}
    assert relay_once(engine, api_url=prefect.url) == 1
    long_ago = datetime.now(UTC) - queue.INBOX_RETENTION - timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(update(WebhookInbox).values(work_state=queue.DONE, received_at=long_ago))
    assert queue.prune(engine).deleted == 1
    assert [r["item_id"] for r in inbox_rows(db_url)] == ["old-refused"]
