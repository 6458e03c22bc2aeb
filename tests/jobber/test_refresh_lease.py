"""A token refresh holds no database lock while Jobber's token endpoint answers: other writers (the gateway's
inbox above all, on SQLite) go on; refreshes stay single-flight across processes through a committed lease,
and the write of the new pair is fenced so a late or refused refresh never clobbers newer tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

import tasks.jobber.auth as auth
from tasks.errors import ReconnectRequired
from tasks.jobber.auth import DatabaseTokenProvider, OAuthClient
from tasks.store import accounts, inbox, inbox_writer
from tasks.store.db import get_engine, unit_of_work
from tasks.store.models import JobberToken

PAST = datetime(2020, 1, 1, tzinfo=UTC)
KEY = "acct"


class FakeTokenEndpoint:
    """Jobber's token endpoint, answering each refresh with the next pair (or `answer` when set); `gate`
    holds every call until the test opens it (a slow Jobber)."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.before_answer: Callable[[], None] | None = None
        self.answer: tuple[int, dict[str, Any]] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(30), "the test never let the refresh finish"
        if self.before_answer is not None:
            self.before_answer()
        if self.answer is not None:
            return httpx.Response(self.answer[0], json=self.answer[1])
        n = self.calls
        return httpx.Response(
            200, json={"access_token": f"access-{n}", "refresh_token": f"refresh-{n}", "expires_in": 3600}
        )

    def oauth(self) -> OAuthClient:
        client = httpx.Client(transport=httpx.MockTransport(self))
        return OAuthClient(
            token_url="https://jobber.test/api/oauth/token", client_id="id", client_secret="s", http=client
        )


@pytest.fixture
def endpoint() -> Iterator[FakeTokenEndpoint]:
    fake = FakeTokenEndpoint()
    yield fake
    fake.gate.set()


@pytest.fixture
def engine(db_url: str) -> Engine:
    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.save_tokens(
            session, account_key=KEY, access_token="expired", refresh_token="refresh-0", access_expires_at=PAST
        )
    return engine


@pytest.fixture
def separate_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shared thread lock: each caller behaves like another process and meets the others only in the database."""
    monkeypatch.setattr(auth, "_lock_for", lambda key: threading.Lock())


def _provider(engine: Engine, endpoint: FakeTokenEndpoint) -> DatabaseTokenProvider:
    return DatabaseTokenProvider(engine=engine, oauth=endpoint.oauth(), account_key=KEY)


def _stored(engine: Engine) -> accounts.StoredTokens | None:
    with unit_of_work(engine) as session:
        return accounts.read_tokens(session, account_key=KEY)


def _write_token_row_quickly(engine: Engine) -> float:
    """Update the token row from another connection that waits at most 0.3 s for a lock; seconds taken."""
    started = time.monotonic()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA busy_timeout = 300")
        else:
            conn.exec_driver_sql("SET lock_timeout = '300ms'")
        try:
            conn.execute(
                sa.update(JobberToken).where(JobberToken.account_key == KEY).values(generation=JobberToken.generation)
            )
            conn.rollback()
        finally:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout = 30000")
            else:
                conn.exec_driver_sql("RESET lock_timeout")
            conn.commit()
    return time.monotonic() - started


def test_a_refresh_in_flight_holds_no_database_lock(engine: Engine, endpoint: FakeTokenEndpoint) -> None:
    endpoint.gate.clear()  # Jobber's token endpoint is slow
    provider = _provider(engine, endpoint)
    result: list[str] = []
    refresher = threading.Thread(target=lambda: result.append(provider.access_token()), daemon=True)
    refresher.start()
    try:
        assert endpoint.entered.wait(10), "the refresh never reached Jobber"
        # the gateway's inbox commits at once on the same database ...
        writer = inbox_writer.InboxWriter(engine, deadline_s=2.0)
        row = inbox.InboxRow(
            dedupe_key="a" * 64,
            account_id="acc",
            topic="JOB_CLOSED",
            item_id="job-1",
            occurred_at="2025-01-24T15:30:00-06:00",
            body="{}",
            received_at=datetime.now(UTC),
        )
        started = time.monotonic()
        assert writer.store_sync(row) is True
        assert time.monotonic() - started < 1.0
        writer.close()
        # ... and even the token row itself is not locked
        assert _write_token_row_quickly(engine) < 1.0
        assert refresher.is_alive() and result == []  # still waiting on Jobber
    finally:
        endpoint.gate.set()
    refresher.join(10)
    assert result == ["access-1"]
    stored = _stored(engine)
    assert stored is not None and (stored.access_token, stored.refresh_token, stored.generation) == (
        "access-1",
        "refresh-1",
        2,
    )
    with unit_of_work(engine) as session:
        assert not accounts.read_refresh_lease(session, account_key=KEY).held(datetime.now(UTC))


def test_processes_wait_on_the_lease_and_share_one_refresh(
    engine: Engine, endpoint: FakeTokenEndpoint, separate_processes: None
) -> None:
    endpoint.gate.clear()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(_provider(engine, endpoint).access_token()), daemon=True)
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    assert endpoint.entered.wait(10)
    time.sleep(0.5)  # the others find the lease held and poll
    assert endpoint.calls == 1
    endpoint.gate.set()
    for thread in threads:
        thread.join(20)
    assert results == ["access-1"] * 4 and endpoint.calls == 1


def test_the_lease_of_a_process_that_died_mid_refresh_runs_out(engine: Engine, endpoint: FakeTokenEndpoint) -> None:
    with unit_of_work(engine) as session:
        assert accounts.claim_refresh_lease(
            session, account_key=KEY, token="dead-process", now=PAST, until=datetime.now(UTC) - timedelta(seconds=1)
        )
    assert _provider(engine, endpoint).access_token() == "access-1"
    assert endpoint.calls == 1


def test_a_live_lease_is_respected(
    engine: Engine, endpoint: FakeTokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the lease and stores new tokens a moment later: no second call to Jobber."""
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        assert accounts.claim_refresh_lease(
            session, account_key=KEY, token="other", now=now, until=now + timedelta(minutes=1)
        )

    def other_process_finishes() -> None:
        time.sleep(0.4)
        with unit_of_work(engine) as session:
            accounts.save_refreshed_tokens(
                session,
                account_key=KEY,
                refreshed_generation=1,
                lease="other",
                access_token="theirs",
                refresh_token="their-refresh",
                access_expires_at=datetime.now(UTC) + timedelta(hours=1),
            )

    threading.Thread(target=other_process_finishes, daemon=True).start()
    assert _provider(engine, endpoint).access_token() == "theirs"
    assert endpoint.calls == 0


def _another_process_stores(engine: Engine, access: str, refresh: str) -> Callable[[], None]:
    """What another process does while this one waits on Jobber past its lease: it stores a newer pair."""

    def store() -> None:
        with unit_of_work(engine) as session:
            accounts.save_tokens(
                session,
                account_key=KEY,
                access_token=access,
                refresh_token=refresh,
                access_expires_at=datetime.now(UTC) + timedelta(hours=1),
            )

    return store


def test_a_refusal_of_a_token_rotated_meanwhile_keeps_the_new_tokens(
    engine: Engine, endpoint: FakeTokenEndpoint
) -> None:
    """A holder whose lease ran out gets invalid_grant for the old token after another process stored a new
    pair: the new pair stays, the account stays connected."""

    endpoint.before_answer = _another_process_stores(engine, "rotated", "rotated-refresh")
    endpoint.answer = (400, {"error": "invalid_grant"})
    assert _provider(engine, endpoint).access_token() == "rotated"
    stored = _stored(engine)
    assert stored is not None and stored.refresh_token == "rotated-refresh"
    with unit_of_work(engine) as session:
        assert accounts.account_status(session, account_key=KEY) == ("connected", None)


def test_a_late_refresh_never_overwrites_newer_tokens(engine: Engine, endpoint: FakeTokenEndpoint) -> None:
    endpoint.before_answer = _another_process_stores(engine, "newer", "newer-refresh")
    assert _provider(engine, endpoint).access_token() == "newer"
    stored = _stored(engine)
    assert stored is not None and (stored.access_token, stored.refresh_token) == ("newer", "newer-refresh")


def test_a_dead_refresh_token_still_puts_the_account_in_reconnect_needed(
    engine: Engine, endpoint: FakeTokenEndpoint
) -> None:
    endpoint.answer = (400, {"error": "invalid_grant"})
    with pytest.raises(ReconnectRequired):
        _provider(engine, endpoint).access_token()
    assert _stored(engine) is None
    with unit_of_work(engine) as session:
        status = accounts.account_status(session, account_key=KEY)
    assert status is not None and status[0] == "reconnect_needed"


def test_a_failed_call_gives_the_lease_back(engine: Engine, endpoint: FakeTokenEndpoint) -> None:
    endpoint.answer = (503, {})
    with pytest.raises(auth.JobberTransportError):
        _provider(engine, endpoint).access_token()
    with unit_of_work(engine) as session:
        assert not accounts.read_refresh_lease(session, account_key=KEY).held(datetime.now(UTC))
    endpoint.answer = None
    assert _provider(engine, endpoint).access_token() == "access-2"  # the next caller refreshes at once


def test_a_lease_does_not_make_the_tokens_look_newer(engine: Engine) -> None:
    """updated_at says when the tokens were saved (an older APP_DISCONNECT is ignored by it): a lease keeps it."""
    with unit_of_work(engine) as session:
        before = session.get(JobberToken, KEY).updated_at  # type: ignore[union-attr]
    time.sleep(0.01)
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        assert accounts.claim_refresh_lease(
            session, account_key=KEY, token="t", now=now, until=now + timedelta(seconds=5)
        )
        accounts.release_refresh_lease(session, account_key=KEY, token="t")
    with unit_of_work(engine) as session:
        assert session.get(JobberToken, KEY).updated_at == before  # type: ignore[union-attr]
