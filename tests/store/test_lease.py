"""The lease queue primitive (tasks/store/lease.py) on SQLite and PostgreSQL: racing workers take disjoint
rows, a live lease is never taken, an expired one is, and the old holder's writes are refused."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    insert,
    or_,
    select,
)

from tasks.store.db import get_engine
from tasks.store.lease import Claimed, LeaseQueue

_META = MetaData()
_JOBS = Table(
    "lease_test_jobs",
    _META,
    Column("id", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("token", String(64)),
    Column("until", DateTime(timezone=True)),
    Column("result", String(64)),
    Column("attempts", Integer, nullable=False, default=0),
)
QUEUE = LeaseQueue(_JOBS, "token", held=_JOBS.c.state == "claimed")


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(_JOBS.c.state == "pending", and_(_JOBS.c.state == "claimed", _JOBS.c.until < now))


def _claim(engine: Engine, now: datetime, *, limit: int = 1, lease: timedelta = timedelta(minutes=1)) -> Claimed:
    with engine.begin() as conn:
        return QUEUE.claim(
            conn,
            claimable=_claimable(now),
            values={"state": "claimed", "until": now + lease, "attempts": _JOBS.c.attempts + 1},
            limit=limit,
        )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = get_engine(db_url)
    _META.create_all(engine)
    yield engine
    _META.drop_all(engine)


def _add(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(_JOBS), [{"id": i, "state": "pending", "attempts": 0} for i in range(1, n + 1)])


def _race(workers: int, work: Callable[[], None]) -> None:
    """Run `work` in `workers` threads released at the same moment."""
    start = threading.Barrier(workers)

    def run() -> None:
        start.wait()
        work()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_racing_workers_take_disjoint_rows(engine: Engine) -> None:
    _add(engine, 120)
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            claimed = _claim(engine, datetime.now(UTC), limit=5)
            if not claimed:
                return
            with engine.begin() as conn:
                assert QUEUE.release(conn, claimed.token, claimed.ids, {"state": "done"}) == len(claimed.ids)
            with lock:
                taken.extend(claimed.ids)

    _race(4, worker)
    assert sorted(taken) == list(range(1, 121)), "a row was taken twice or never"
    with engine.connect() as conn:
        assert set(conn.execute(select(_JOBS.c.attempts)).scalars()) == {1}


def test_one_row_raced_by_many_goes_to_exactly_one(engine: Engine) -> None:
    _add(engine, 1)
    now = datetime.now(UTC)
    winners: list[str] = []

    def worker() -> None:
        claimed = _claim(engine, now)
        if claimed:
            winners.append(claimed.token)

    _race(6, worker)
    assert len(winners) == 1


def test_a_stale_lease_is_taken_over_and_the_old_holders_writes_are_refused(engine: Engine) -> None:
    _add(engine, 1)
    start = datetime.now(UTC)
    slow = _claim(engine, start, lease=timedelta(seconds=10))
    assert slow.ids == (1,)
    assert not _claim(engine, start + timedelta(seconds=5)), "a live lease was taken"
    with engine.begin() as conn:  # the holder renews while it still holds the row
        assert QUEUE.renew(conn, slow.token, [1], {"until": start + timedelta(seconds=20)}) == 1
    assert not _claim(engine, start + timedelta(seconds=15)), "a renewed lease was taken"
    fast = _claim(engine, start + timedelta(seconds=21))  # the slow worker stalled past its renewed lease
    assert fast.ids == (1,) and fast.token != slow.token
    with engine.begin() as conn:
        assert QUEUE.holds(conn, slow.token, [1]) == set()
        assert QUEUE.renew(conn, slow.token, [1], {"until": start + timedelta(hours=1)}) == 0
        assert QUEUE.release(conn, slow.token, [1], {"state": "done", "result": "late"}) == 0
        assert QUEUE.release(conn, fast.token, [1], {"state": "done", "result": "ok"}) == 1
        # released: the token no longer holds the row, so a second finish writes nothing
        assert QUEUE.release(conn, fast.token, [1], {"state": "done", "result": "again"}) == 0
    with engine.connect() as conn:
        row = conn.execute(select(_JOBS.c.state, _JOBS.c.result, _JOBS.c.token, _JOBS.c.attempts)).one()
    assert tuple(row) == ("done", "ok", None, 2)


def test_claim_takes_the_oldest_first_up_to_the_limit(engine: Engine) -> None:
    _add(engine, 5)
    claimed = _claim(engine, datetime.now(UTC), limit=3)
    assert claimed.ids == (1, 2, 3)
