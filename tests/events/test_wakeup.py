"""The relay's wake-ups: many webhooks -> one background task run in flight; a lost one is replaced."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from deployments.gateway.wakeup import Waker
from tasks.events import queue
from tasks.store import inbox
from tasks.store.db import get_engine


class FakePrefect:
    def __init__(self) -> None:
        self.states: dict[int, str] = {}

    def submit(self) -> int:
        run = len(self.states) + 1
        self.states[run] = "SCHEDULED"
        return run

    def read(self, run: int) -> str:
        return self.states[run]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _store(engine: Engine, n: int, start: int = 0) -> None:
    inbox.store_rows(
        engine,
        [
            inbox.InboxRow(f"k{i}", "acc", "JOB_CLOSED", f"j{i}", "2026-12-07T10:00:00Z", "{}", datetime.now(UTC))
            for i in range(start, start + n)
        ],
    )


def _waker(engine: Engine, prefect: FakePrefect, clock: Clock, **kw: object) -> Waker:
    return Waker(engine, submit=prefect.submit, read_state=prefect.read, clock=clock, **kw)  # type: ignore[arg-type]


def test_a_stream_of_webhooks_wakes_one_worker_run_at_a_time(db_url: str) -> None:
    engine, prefect, clock = get_engine(db_url), FakePrefect(), Clock()
    waker = _waker(engine, prefect, clock)
    _store(engine, 1)
    assert waker.poke(work_arrived=True)
    for i in range(50):  # more webhooks while the first wake-up waits, then runs
        clock.now += 0.3
        if i == 10:
            prefect.states[1] = "RUNNING"
        _store(engine, 1, start=i + 1)
        assert not waker.poke(work_arrived=True)
    assert prefect.states == {1: "RUNNING"}


def test_work_left_after_a_run_finishes_gets_a_new_wake_up(db_url: str) -> None:
    engine, prefect, clock = get_engine(db_url), FakePrefect(), Clock()
    waker = _waker(engine, prefect, clock)
    _store(engine, 1)
    waker.poke(work_arrived=True)
    _store(engine, 1, start=1)  # arrives while run 1 is finishing: run 1 does not see it
    prefect.states[1] = "COMPLETED"
    clock.now += 1
    assert waker.poke(work_arrived=False), "a pending event was left without a run"
    claim = queue.claim(engine)
    queue.finish(engine, claim.token, {e.id: "ok" for e in claim.events})
    prefect.states[2] = "COMPLETED"
    clock.now += 2
    assert not waker.poke(work_arrived=False), "nothing is pending: no run"
    assert len(prefect.states) == 2


def test_a_wake_up_prefect_lost_is_replaced_after_it_goes_stale(db_url: str) -> None:
    engine, prefect, clock = get_engine(db_url), FakePrefect(), Clock()
    reported: list[int] = []
    waker = _waker(engine, prefect, clock, stale_after_s=30.0, on_stalled=reported.append)
    _store(engine, 1)
    waker.poke(work_arrived=True)  # the server restarts (or no event worker runs): run 1 stays SCHEDULED
    clock.now += 20
    assert not waker.poke(work_arrived=False)
    clock.now += 15
    assert waker.poke(work_arrived=False)
    assert len(prefect.states) == 2
    assert reported == [1], "the relay must ask the jobber-events deployment to take over the waiting event"


def test_several_workers_get_a_second_wake_up_only_for_a_backlog(db_url: str) -> None:
    engine, prefect, clock = get_engine(db_url), FakePrefect(), Clock()
    waker = _waker(engine, prefect, clock, max_in_flight=2, backlog_per_run=10)
    _store(engine, 3)
    waker.poke(work_arrived=True)
    prefect.states[1] = "RUNNING"
    clock.now += 1
    assert not waker.poke(work_arrived=True), "3 events do not need a second worker"
    _store(engine, 20, start=3)
    clock.now += 1
    assert waker.poke(work_arrived=True)
    clock.now += 1
    assert not waker.poke(work_arrived=True), "at most max_in_flight runs"


def test_a_running_wake_up_whose_worker_died_stops_blocking_after_the_lease(db_url: str) -> None:
    """kill -9 of an event worker leaves its task run RUNNING in Prefect for ever: the relay sent no wake-up
    again until the gateway restarted (bench/chaos_soak.py: 36 events waited for the 5-minute sweep)."""
    engine, prefect, clock = get_engine(db_url), FakePrefect(), Clock()
    waker = _waker(engine, prefect, clock)
    _store(engine, 1)
    assert waker.poke(work_arrived=True)
    prefect.states[1] = "RUNNING"  # ... and its worker is killed: nothing ever ends run 1
    clock.now += 60
    _store(engine, 1, start=1)
    assert not waker.poke(work_arrived=True), "a run that may still be working is not doubled at once"
    clock.now += 300  # the inbox lease has passed: run 1's rows are claimable again
    assert waker.poke(work_arrived=False), "the events waited for a run that will never end"
    assert prefect.states == {1: "RUNNING", 2: "SCHEDULED"}
