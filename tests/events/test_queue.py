"""The inbox as a work queue (SQLite and PostgreSQL): each event's work is claimed by exactly one worker,
finished once, retried with backoff, and set aside after too many failures."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tasks.events import queue
from tasks.events.routing import initial_state, work_for
from tasks.store import inbox, inbox_writer
from tasks.store.db import get_engine
from tasks.store.models import WebhookInbox


def _rows(n: int, *, topic: str = "JOB_CLOSED", start: int = 0) -> list[inbox.InboxRow]:
    now = datetime.now(UTC)
    return [
        inbox.InboxRow(
            dedupe_key=f"key-{topic}-{i}",
            account_id="acc",
            topic=topic,
            item_id=f"item-{i}",
            occurred_at="2026-12-07T10:00:00Z",
            body="{}",
            received_at=now,
            work_state=initial_state(topic),
        )
        for i in range(start, start + n)
    ]


def _states(db_url: str) -> dict[int, str]:
    with get_engine(db_url).connect() as conn:
        return dict(conn.execute(select(WebhookInbox.id, WebhookInbox.work_state)).all())  # type: ignore[arg-type]


def test_topics_nothing_acts_on_are_stored_but_never_claimed(db_url: str) -> None:
    engine = get_engine(db_url)
    assert work_for("JOB_CLOSED") == ("refresh", "review", "slack")
    assert work_for("VISIT_COMPLETE") == ("refresh", "review")
    assert work_for("PAYMENT_CREATE") == ("review", "slack")
    assert work_for("APP_DISCONNECT") == ()
    inbox.store_rows(engine, _rows(2, topic="APP_DISCONNECT") + _rows(1, topic="JOB_CLOSED"))
    claim = queue.claim(engine)
    assert [e.topic for e in claim.events] == ["JOB_CLOSED"]
    assert sorted(_states(db_url).values()) == ["claimed", "none", "none"]


def test_concurrent_claims_never_take_the_same_event(db_url: str) -> None:
    engine = get_engine(db_url)
    inbox.store_rows(engine, _rows(300))
    taken: list[list[int]] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            claim = queue.claim(engine, limit=7)
            if not claim:
                return
            assert len(claim.events) <= 7, "a claim took more rows than its limit"
            with lock:
                taken.append([e.id for e in claim.events])
            queue.finish(engine, claim.token, {e.id: "ok" for e in claim.events})

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [i for batch in taken for i in batch]
    assert len(ids) == 300 and len(set(ids)) == 300, "an event was processed twice or lost"
    assert set(_states(db_url).values()) == {"done"}


def test_a_claim_fences_out_a_worker_whose_lease_expired(db_url: str) -> None:
    engine = get_engine(db_url)
    inbox.store_rows(engine, _rows(2))
    start = datetime.now(UTC)
    slow = queue.claim(engine, lease=timedelta(seconds=10), now=start)
    assert len(slow.events) == 2
    assert not queue.claim(engine, now=start + timedelta(seconds=5)), "a live claim was taken over"
    fast = queue.claim(engine, now=start + timedelta(seconds=11))  # the slow worker stalled past its lease
    assert len(fast.events) == 2
    assert queue.finish(engine, slow.token, {e.id: "late" for e in slow.events}) == 0
    assert queue.finish(engine, fast.token, {e.id: "ok" for e in fast.events}) == 2
    with engine.connect() as conn:
        assert set(conn.execute(select(WebhookInbox.outcome)).scalars()) == {"ok"}


def test_failed_work_is_retried_with_backoff_then_set_aside(db_url: str) -> None:
    engine = get_engine(db_url)
    inbox.store_rows(engine, _rows(1))
    now = datetime.now(UTC)
    claim = queue.claim(engine, now=now)
    retried, failed = queue.retry_later(engine, claim.token, {claim.events[0].id: "JobberTransportError"}, now=now)
    assert retried == [claim.events[0].id] and failed == []
    assert not queue.claim(engine, now=now + timedelta(seconds=1)), "retried before its backoff"
    again = queue.claim(engine, now=now + timedelta(seconds=6))
    assert again.events[0].attempts == 2
    _, failed = queue.retry_later(engine, again.token, {again.events[0].id: "poison"}, now=now, max_attempts=2)
    assert failed == [again.events[0].id]
    assert _states(db_url) == {again.events[0].id: "failed"}
    assert queue.pending_work(engine).failed == 1
    assert not queue.claim(engine, now=now + timedelta(days=1)), "a poison row is never claimed again"


def test_backoff_grows_to_a_cap_that_outlasts_a_long_outage() -> None:
    backoff = queue.RETRY_BACKOFF.delay
    assert backoff(1) == timedelta(seconds=5)
    assert backoff(3) == timedelta(seconds=20)
    assert backoff(50) == timedelta(minutes=15)
    total = sum((backoff(a) for a in range(1, queue.MAX_ATTEMPTS)), timedelta())
    assert total > timedelta(hours=6)


def test_the_sweep_leaves_fresh_events_to_the_instant_path(db_url: str) -> None:
    engine = get_engine(db_url)
    inbox.store_rows(engine, _rows(3))
    now = datetime.now(UTC)
    assert not queue.claim(engine, older_than=timedelta(seconds=60), now=now)
    assert len(queue.claim(engine, older_than=timedelta(seconds=60), now=now + timedelta(seconds=61)).events) == 3
    assert queue.claimable_count(engine, now=now) == 0


def test_the_gateways_fast_insert_stores_the_work_state(db_url: str, caplog: object) -> None:
    """The group commit's prepared INSERT (the path every webhook takes) must not fall back to the slow
    path: it binds every column the table fills, the work columns included."""
    import logging

    engine = get_engine(db_url)
    writer = inbox_writer.InboxWriter(engine)
    with caplog.at_level(logging.WARNING, logger="tasks.store.inbox_writer"):  # type: ignore[attr-defined]
        for row in _rows(2) + _rows(1, topic="APP_DISCONNECT"):
            assert writer.store_sync(row) is True
    writer.close()
    assert "fast insert failed" not in caplog.text  # type: ignore[attr-defined]
    assert sorted(_states(db_url).values()) == ["none", "pending", "pending"]


def test_retention_prunes_old_processed_relayed_rows_and_keeps_failed_ones(db_url: str) -> None:
    from sqlalchemy import update

    engine = get_engine(db_url)
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    inbox.store_rows(engine, _rows(8))
    # (work_state, received_at, relayed) per row id, in insertion order
    layout = [
        ("done", old, True),  # deleted
        ("none", old, True),  # deleted
        ("done", recent, True),  # kept: inside the retention period
        ("done", old, False),  # kept: not relayed yet
        ("failed", old, True),  # kept: poison, until someone looks
        ("pending", old, True),  # kept: work not done
        ("claimed", old, True),  # kept: work under way
        ("none", recent, False),  # kept
    ]
    with engine.begin() as conn:
        ids = [row[0] for row in conn.execute(select(WebhookInbox.id).order_by(WebhookInbox.id))]
        for row_id, (state, received, relayed) in zip(ids, layout, strict=True):
            conn.execute(
                update(WebhookInbox)
                .where(WebhookInbox.id == row_id)
                .values(work_state=state, received_at=received, relayed_at=received if relayed else None)
            )
    result = queue.prune(engine, now=now, batch=1)
    assert (result.deleted, result.failed_kept) == (2, 1)
    assert result.cutoff == now - queue.INBOX_RETENTION
    assert sorted(_states(db_url)) == ids[2:]
    assert queue.prune(engine, now=now).deleted == 0
    assert queue.prune(engine, now=now + timedelta(days=60)).deleted == 1  # the recent relayed done row, now old


def test_the_backlog_counts_how_long_rows_have_been_claimable_not_since_received(db_url: str) -> None:
    """A row retried after backoff, or whose claim expired, has waited since it became claimable again:
    the review poll reads this to tell a stalled worker from rows being taken right now."""
    from tasks.store.inbox_work import backlog

    engine = get_engine(db_url)
    inbox.store_rows(engine, _rows(2))
    received = datetime.now(UTC)
    assert backlog(engine, now=received)[0] == 2
    assert abs(backlog(engine, now=received)[1] - received) < timedelta(seconds=5)  # type: ignore[operator]
    first = queue.claim(engine, limit=1, now=received)
    queue.retry_later(engine, first.token, {first.events[0].id: "boom"}, now=received + timedelta(hours=1))
    queue.claim(engine, limit=1, now=received + timedelta(hours=1), lease=timedelta(minutes=5))
    later = received + timedelta(hours=1, minutes=10)  # the retry came due, the second claim ran out
    count, since = backlog(engine, now=later)
    assert count == 2 and since is not None and since > received + timedelta(hours=1)
    assert backlog(engine, now=later, cap=1)[0] == 1
