"""A locked or unavailable database never makes a Jobber webhook wait: 503 within the deadline, one bounded
wait per batch (not one per row), nothing acknowledged lost, and a 503'd webhook stored at most once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tasks.store import inbox, inbox_writer
from tasks.store.db import get_engine
from tasks.store.migrate import upgrade_database
from tests.gateway.test_webhooks_support import (
    call,
    close_gateway,
    inbox_rows,
    make_gateway,
    signed_headers,
    webhook_body,
)

DEADLINE_S = 0.5


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    from tasks.store.db import dispose_engines

    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    yield url
    dispose_engines()


class _WriteLock:
    """Another process's long write transaction on the same SQLite file (BEGIN IMMEDIATE: the write lock)."""

    def __init__(self, url: str) -> None:
        self._connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)

    def __enter__(self) -> _WriteLock:
        self._connection.execute("BEGIN IMMEDIATE")
        return self

    def release(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._connection.close()


def _row(i: int) -> inbox.InboxRow:
    return inbox.InboxRow(
        dedupe_key=f"{i:064d}",
        account_id="acc",
        topic="CLIENT_UPDATE",
        item_id=f"client-{i}",
        occurred_at="2025-01-24T15:30:00-06:00",
        body="{}",
        received_at=datetime.now(UTC),
    )


def _post_all(app: FastAPI, bodies: list[bytes], *, within: float) -> tuple[list[httpx.Response], float]:
    async def go(client: httpx.AsyncClient) -> list[httpx.Response]:
        requests = (client.post("/webhooks/jobber", content=b, headers=signed_headers(b)) for b in bodies)
        return list(await asyncio.wait_for(asyncio.gather(*requests), within))

    started = time.monotonic()
    answers = call(app, go)
    return answers, time.monotonic() - started


def test_a_locked_database_answers_503_within_the_deadline_then_recovers(sqlite_url: str) -> None:
    app = make_gateway(sqlite_url, gateway_store_deadline_s=DEADLINE_S)
    bodies = [webhook_body("CLIENT_UPDATE", item_id=f"client-{i}") for i in range(20)]
    try:
        writer = app.state.inbox_writer
        with _WriteLock(sqlite_url) as lock:
            answers, elapsed = _post_all(app, bodies, within=10.0)
            assert [a.status_code for a in answers] == [503] * 20
            assert elapsed < DEADLINE_S + 1.5, f"answered after {elapsed:.2f} s"
            # the writer met the lock once per batch and gave each batch up after one bounded wait
            deadline = time.monotonic() + 5
            while writer.queued or writer.stats.rows < 20:
                assert time.monotonic() < deadline, "the writer is still waiting on the lock"
                time.sleep(0.05)
            assert writer.stats.transactions == writer.stats.batches == writer.stats.unavailable
            assert writer.stats.batches <= 3 and writer.stats.last_commit_s < DEADLINE_S + 0.5
            lock.release()
        assert inbox_rows(sqlite_url) == []  # nothing half-stored

        answers, elapsed = _post_all(app, bodies, within=10.0)  # Jobber delivers them again
        assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "stored")] * 20
        assert sorted(r["item_id"] for r in inbox_rows(sqlite_url)) == sorted(f"client-{i}" for i in range(20))
        health = call(app, lambda client: client.get("/healthz")).json()
        assert health["inbox_writer"]["unavailable"] >= 1 and health["inbox_writer"]["deadline_missed"] == 20
    finally:
        close_gateway(app)


def test_a_batch_of_n_rows_costs_one_bounded_wait_not_n(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    writer = inbox_writer.InboxWriter(engine, deadline_s=DEADLINE_S)
    futures: list[Future[bool]] = [Future() for _ in range(50)]
    batch: list[inbox_writer._Waiter] = [(_row(i), future, None) for i, future in enumerate(futures)]
    with _WriteLock(sqlite_url):
        worker = threading.Thread(target=writer._commit, args=(batch,), daemon=True)
        started = time.monotonic()
        worker.start()
        worker.join(DEADLINE_S * 6)
        elapsed = time.monotonic() - started
    assert not worker.is_alive(), "the batch waited once per row"
    assert elapsed < DEADLINE_S * 3
    assert writer.stats.transactions == 1 and writer.stats.unavailable == 1
    for future in futures:
        with pytest.raises(inbox.InboxUnavailable):
            future.result(0)
    writer.close()


def test_a_request_stops_waiting_at_the_deadline_and_its_late_row_is_a_duplicate_later(sqlite_url: str) -> None:
    """The row is written after its caller was told 503: Jobber's retry is then acknowledged as a duplicate."""
    engine = get_engine(sqlite_url)
    writer = inbox_writer.InboxWriter(engine, deadline_s=DEADLINE_S)
    release = threading.Event()
    original = writer._store

    def slow_store(rows: list[inbox.InboxRow]) -> set[str]:
        release.wait(10)  # a commit slower than the deadline (a slow disk), not a lock
        return original(rows)

    writer._store = slow_store  # type: ignore[method-assign]
    row = _row(1)
    started = time.monotonic()
    with pytest.raises(inbox.InboxUnavailable):
        writer.store_sync(row)
    assert time.monotonic() - started < DEADLINE_S + 0.5
    release.set()
    deadline = time.monotonic() + 5
    while inbox.count_rows(engine) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    writer._store = original  # type: ignore[method-assign]
    assert writer.store_sync(row) is False  # the retry: a duplicate of the row written late
    assert inbox.count_rows(engine) == 1
    writer.close()


def test_one_bad_row_fails_alone_and_the_others_are_stored(db_url: str) -> None:
    """An error that may be a row's fault (here a NOT NULL violation) still splits the batch."""
    engine = get_engine(db_url)
    writer = inbox_writer.InboxWriter(engine, deadline_s=5.0)
    good = [_row(i) for i in range(5)]
    bad = inbox.InboxRow(
        dedupe_key="f" * 64,
        account_id="acc",
        topic="CLIENT_UPDATE",
        item_id="bad",
        occurred_at="2025-01-24T15:30:00-06:00",
        body=None,  # type: ignore[arg-type]
        received_at=datetime.now(UTC),
    )
    futures: list[Future[bool]] = [Future() for _ in range(6)]
    batch: list[inbox_writer._Waiter] = [
        (row, f, None) for row, f in zip([*good[:3], bad, *good[3:]], futures, strict=True)
    ]
    writer._commit(batch)
    results = []
    for future in futures:
        try:
            results.append(future.result(0))
        except inbox.InboxUnavailable:
            results.append("unavailable")
    assert results == [True, True, True, "unavailable", True, True]
    assert sorted(inbox.stored_keys(engine)) == sorted(r.dedupe_key for r in good)
    assert writer.stats.transactions == 1 + 6
    writer.close()
