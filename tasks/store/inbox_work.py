"""Which inbox rows have work a worker may claim now: the one definition the event queue claims by
(tasks/events/queue.py) and the questions asked from other floors answer with ("is the event path
busy?": the review poll waits a turn; "did a wake-up go unanswered?": the relay)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Engine, Table, and_, case, func, or_, select

from tasks.store.accounts import as_utc
from tasks.store.models import WebhookInbox

_TABLE: Table = WebhookInbox.__table__  # type: ignore[assignment]

PENDING, CLAIMED = "pending", "claimed"


def claimable(now: datetime, received_before: datetime | None = None) -> ColumnElement[bool]:
    """Pending rows whose retry time has come, and claims whose lease ran out (a worker died mid-batch);
    with `received_before`, only rows received by then."""
    ready = or_(
        and_(
            _TABLE.c.work_state == PENDING,
            or_(_TABLE.c.work_not_before.is_(None), _TABLE.c.work_not_before <= now),
        ),
        and_(_TABLE.c.work_state == CLAIMED, _TABLE.c.work_claimed_until < now),
    )
    if received_before is not None:
        return and_(ready, _TABLE.c.received_at <= received_before)
    return ready


def claimable_count(engine: Engine, *, now: datetime | None = None, cap: int = 10_000) -> int:
    """How many rows a worker could claim right now (counted up to `cap`: an indexed probe, not a scan)."""
    now = now or datetime.now(UTC)
    probe = select(_TABLE.c.id).where(claimable(now)).limit(cap).subquery()
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(probe)).scalar_one())


def backlog(engine: Engine, *, now: datetime | None = None, cap: int = 10_000) -> tuple[int, datetime | None]:
    """How many rows a worker could claim right now (up to `cap`, oldest first: an indexed probe) and since
    when the longest-waiting of them has been claimable (received, retry time come, or lease run out): the
    review poll tells a burst or a stalled worker from the few rows a busy worker is taking right now."""
    now = now or datetime.now(UTC)
    ready_since = case(
        (_TABLE.c.work_state == CLAIMED, _TABLE.c.work_claimed_until),
        else_=func.coalesce(_TABLE.c.work_not_before, _TABLE.c.received_at),
    ).label("ready_since")
    probe = select(ready_since).where(claimable(now)).order_by(_TABLE.c.id).limit(cap).subquery()
    with engine.connect() as conn:
        count, oldest = conn.execute(select(func.count(), func.min(probe.c.ready_since))).one()
    if isinstance(oldest, str):  # SQLite loses the column type through min()
        oldest = datetime.fromisoformat(oldest)
    return int(count), as_utc(oldest)
