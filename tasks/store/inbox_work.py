"""Which inbox rows have work a worker may claim now: the one definition the event queue claims by
(tasks/events/queue.py) and the questions asked from other floors answer with ("is the event path
busy?": the review poll waits a turn; "did a wake-up go unanswered?": the relay)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Engine, Table, and_, func, or_, select

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
