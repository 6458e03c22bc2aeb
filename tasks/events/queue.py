"""The inbox as a work queue: claim pending events, finish them, retry them later, set poison aside.

A row's work_state goes `pending -> claimed -> done`, or back to `pending` with a later `work_not_before`
when the work failed for a reason that may pass (Jobber down, throttled), or to `failed` after
`MAX_ATTEMPTS` (a poison row: reported, never retried forever, never blocking the others). Topics that
cause no work are stored as `none` and never claimed.

Retention (`prune`, run daily by the `jobber-backup` flow after its snapshot): rows whose work is `done`
or `none` and that the relay has passed on are deleted once older than `INBOX_RETENTION` (30 days);
`failed` rows (poison) and anything pending, claimed or not yet relayed are kept, and the failed ones are
counted so the run can report them until someone looks.

A claim is the lease queue's (tasks/store/lease.py): one conditional UPDATE (`... WHERE id IN (SELECT ...
FOR UPDATE SKIP LOCKED) AND <still claimable>`), so two workers never take the same row: on PostgreSQL the
second skips the rows the first locked; on SQLite the statement runs under the database's write lock.
Every later write is fenced by the claim's token, so a worker that stalled past its lease cannot
overwrite the work of the one that took the rows over. An expired claim is claimable again (a worker
died mid-batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Table, and_, delete, func, select

from tasks.retry import Backoff
from tasks.store.accounts import as_utc
from tasks.store.inbox import seconds_since
from tasks.store.inbox_work import CLAIMED, PENDING, claimable, claimable_count
from tasks.store.lease import LeaseQueue
from tasks.store.models import WebhookInbox

_TABLE: Table = WebhookInbox.__table__  # type: ignore[assignment]

DONE, FAILED = "done", "failed"
DEFAULT_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 36  # with RETRY_BACKOFF, about 7 hours of retrying: a 6-hour Jobber outage loses nothing
# 5 s, 10 s, 20 s ... capped at 15 minutes. No jitter: rows that failed together (Jobber down) are meant to
# come back together, as one batch for one task run, and the attempts must add up to the 7 hours above.
RETRY_BACKOFF = Backoff(base=5.0, cap=15 * 60.0, floor=1.0)
NONE = "none"
INBOX_RETENTION = timedelta(days=30)
_QUEUE = LeaseQueue(_TABLE, "work_claim", held=_TABLE.c.work_state == CLAIMED)


@dataclass(frozen=True, slots=True)
class Event:
    """One claimed inbox row: a Jobber webhook whose work this worker now owns."""

    id: int
    account_id: str
    topic: str
    item_id: str
    occurred_at: str
    received_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Claim:
    token: str
    events: tuple[Event, ...]
    until: datetime

    def __bool__(self) -> bool:
        return bool(self.events)


def claim(
    engine: Engine,
    *,
    limit: int = 200,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    older_than: timedelta | None = None,
) -> Claim:
    """Claim up to `limit` claimable rows, oldest first. `older_than` leaves the newest rows to the instant
    path (the scheduled drain uses it, so it only takes what a lost wake-up left behind)."""
    now = now or datetime.now(UTC)
    until = now + lease
    condition = claimable(now, now - older_than if older_than is not None else None)
    with engine.begin() as conn:
        taken = _QUEUE.claim(
            conn,
            claimable=condition,
            values={"work_state": CLAIMED, "work_claimed_until": until, "work_attempts": _TABLE.c.work_attempts + 1},
            limit=limit,
        )
        token = taken.token
        rows = conn.execute(
            select(
                _TABLE.c.id,
                _TABLE.c.account_id,
                _TABLE.c.topic,
                _TABLE.c.item_id,
                _TABLE.c.occurred_at,
                _TABLE.c.received_at,
                _TABLE.c.work_attempts,
            )
            .where(_TABLE.c.id.in_(taken.ids))
            .order_by(_TABLE.c.id)
        ).all()
    events = tuple(
        Event(
            id=int(r[0]),
            account_id=r[1],
            topic=r[2],
            item_id=r[3],
            occurred_at=r[4],
            received_at=as_utc(r[5]) or now,
            attempts=int(r[6] or 0),
        )
        for r in rows
    )
    return Claim(token=token, events=events, until=until)


def finish(engine: Engine, token: str, outcomes: Mapping[int, str], *, now: datetime | None = None) -> int:
    """Mark claimed rows done with their one-line outcome; the number still held by `token` (and so done)."""
    if not outcomes:
        return 0
    now = now or datetime.now(UTC)
    done = 0
    with engine.begin() as conn:
        for event_id, outcome in outcomes.items():
            values = {"work_state": DONE, "processed_at": now, "outcome": outcome[:2000], "last_error": None}
            done += _QUEUE.release(conn, token, [event_id], values)
    return done


def retry_later(
    engine: Engine,
    token: str,
    errors: Mapping[int, str],
    *,
    now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> tuple[list[int], list[int]]:
    """Give rows back for a later attempt (`RETRY_BACKOFF` by attempts), or set them aside as `failed` once they have
    had `max_attempts`. Returns (retried ids, failed ids); rows no longer held by `token` are left alone."""
    now = now or datetime.now(UTC)
    retried: list[int] = []
    failed: list[int] = []
    with engine.begin() as conn:
        held = _QUEUE.holds(conn, token, errors)
        found = conn.execute(select(_TABLE.c.id, _TABLE.c.work_attempts).where(_TABLE.c.id.in_(held))).all()
        attempts = {int(row[0]): int(row[1] or 0) for row in found}
        for event_id, error in errors.items():
            if event_id not in attempts:
                continue
            tries = int(attempts[event_id] or 0)
            if tries >= max_attempts:
                values: dict[str, object] = {
                    "work_state": FAILED,
                    "processed_at": now,
                    "outcome": f"failed after {tries} attempts: {error}"[:2000],
                }
                failed.append(event_id)
            else:
                values = {"work_state": PENDING, "work_not_before": now + RETRY_BACKOFF.delay(tries)}
                retried.append(event_id)
            values["last_error"] = error[:2000]
            _QUEUE.release(conn, token, [event_id], values)
    return retried, failed


@dataclass(frozen=True, slots=True)
class PendingWork:
    """Rows whose work is not done yet (pending or claimed), and how old the oldest is."""

    count: int
    oldest_received_at: datetime | None
    failed: int = 0

    def age_seconds(self, now: datetime | None = None) -> float:
        return seconds_since(self.oldest_received_at, now)


def pending_work(engine: Engine) -> PendingWork:
    with engine.connect() as conn:
        row = conn.execute(
            select(func.count(), func.min(_TABLE.c.received_at)).where(_TABLE.c.work_state.in_((PENDING, CLAIMED)))
        ).one()
        failed = conn.execute(select(func.count()).where(_TABLE.c.work_state == FAILED)).scalar_one()
    return PendingWork(count=int(row[0] or 0), oldest_received_at=as_utc(row[1]), failed=int(failed or 0))


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What `prune` deleted, and the `failed` rows it kept (poison: reported until someone looks)."""

    deleted: int
    failed_kept: int
    cutoff: datetime


def prune(
    engine: Engine, *, retention: timedelta = INBOX_RETENTION, now: datetime | None = None, batch: int = 5000
) -> PruneResult:
    """Delete inbox rows received before `now - retention` whose work is over (`done`, or `none`: nothing to
    do) and that were relayed. In batches of `batch` rows, one short transaction each, so the gateway's
    writer never waits long for the lock. A webhook redelivered after the retention period would be taken
    as new; Jobber retries for hours, not weeks."""
    now = now or datetime.now(UTC)
    cutoff = now - retention
    prunable = and_(
        _TABLE.c.work_state.in_((DONE, NONE)),
        _TABLE.c.relayed_at.is_not(None),
        _TABLE.c.received_at < cutoff,
    )
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = [int(i) for i in conn.scalars(select(_TABLE.c.id).where(prunable).order_by(_TABLE.c.id).limit(batch))]
            if not ids:
                break
            deleted += int(conn.execute(delete(_TABLE).where(_TABLE.c.id.in_(ids), prunable)).rowcount or 0)
        if len(ids) < batch:
            break
    with engine.connect() as conn:
        failed = int(conn.execute(select(func.count()).where(_TABLE.c.work_state == FAILED)).scalar_one() or 0)
    return PruneResult(deleted=deleted, failed_kept=failed, cutoff=cutoff)


__all__ = [
    "CLAIMED",
    "DONE",
    "FAILED",
    "NONE",
    "PENDING",
    "Claim",
    "PruneResult",
    "Event",
    "PendingWork",
    "RETRY_BACKOFF",
    "claim",
    "finish",
    "claimable_count",
    "pending_work",
    "prune",
    "retry_later",
]
