"""The Slack outbox: every notification is a row before it is a message. Keyword-only functions taking the
caller's session (one session per unit of work).

States: pending -> sent | failed. A dispatcher claims a due pending row through the lease queue
(tasks/store/lease.py): `next_attempt_at` is pushed forward by a lease and a fresh `claim_token` is set, in
one conditional UPDATE, so two dispatchers never post the same row at once; a crashed dispatcher's claim
simply expires and the row is due again, and the stalled holder's later writes (sent, failed, deferred)
are refused by the token. `failed` is final until `requeue_failed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tasks.store.db import unit_of_work
from tasks.store.lease import LeaseQueue
from tasks.store.models import SlackOutbox

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class Enqueued:
    outbox_id: int
    created: bool  # False: a row with this dedupe key already existed (a duplicate event)
    status: str


@dataclass(frozen=True)
class OutboxCounts:
    pending: int = 0
    sent: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"pending": self.pending, "sent": self.sent, "failed": self.failed}


def enqueue(
    session: Session, *, dedupe_key: str, channel: str, kind: str, payload: dict[str, Any], now: datetime
) -> Enqueued:
    """Insert the notification unless a row with the same dedupe key exists (then return that row)."""
    values = {
        "dedupe_key": dedupe_key,
        "channel": channel,
        "kind": kind,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(SlackOutbox).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
        new_id = session.execute(stmt.returning(SlackOutbox.id)).scalar_one_or_none()
        if new_id is not None:
            return Enqueued(int(new_id), True, PENDING)
    else:  # pragma: no cover - the project supports SQLite and PostgreSQL
        existing = session.execute(select(SlackOutbox).where(SlackOutbox.dedupe_key == dedupe_key)).scalar()
        if existing is None:
            row = SlackOutbox(**values)
            session.add(row)
            session.flush()
            return Enqueued(row.id, True, PENDING)
    row_id, status = session.execute(
        select(SlackOutbox.id, SlackOutbox.status).where(SlackOutbox.dedupe_key == dedupe_key)
    ).one()
    return Enqueued(int(row_id), False, str(status))


_QUEUE = LeaseQueue(SlackOutbox.__table__, "claim_token", held=SlackOutbox.status == PENDING)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ClaimedRow:
    """A row this dispatcher holds until its lease runs out; `token` fences every write about it."""

    id: int
    token: str
    kind: str
    channel: str
    attempts: int
    payload: dict[str, Any]


def _due(now: datetime) -> Any:
    return (SlackOutbox.status == PENDING) & or_(
        SlackOutbox.next_attempt_at.is_(None), SlackOutbox.next_attempt_at <= now
    )


def due_rows(session: Session, *, now: datetime, limit: int) -> list[tuple[int, str]]:
    """(id, channel) of pending rows that may be tried now, oldest first."""
    stmt = select(SlackOutbox.id, SlackOutbox.channel).where(_due(now)).order_by(SlackOutbox.id).limit(limit)
    return [(int(i), str(channel)) for i, channel in session.execute(stmt).all()]


def claim(session: Session, *, outbox_id: int, now: datetime, lease_until: datetime) -> ClaimedRow | None:
    """Take a due row for this dispatcher until `lease_until` (counts an attempt); None if someone else has it.
    A row whose holder's lease ran out is due again: the new claim's token refuses the old holder's writes."""
    taken = _QUEUE.claim(
        session,
        claimable=(SlackOutbox.id == outbox_id) & _due(now),
        values={"next_attempt_at": lease_until, "attempts": SlackOutbox.attempts + 1},
    )
    if not taken:
        return None
    row = session.execute(
        select(SlackOutbox.kind, SlackOutbox.channel, SlackOutbox.attempts, SlackOutbox.payload).where(
            SlackOutbox.id == outbox_id
        )
    ).one()
    return ClaimedRow(outbox_id, taken.token, str(row[0]), str(row[1]), int(row[2] or 0), dict(row[3] or {}))


def mark_sent(session: Session, *, row: ClaimedRow, now: datetime) -> bool:
    """Done. False (nothing written) when the claim was lost to another dispatcher."""
    values = {"status": SENT, "sent_at": now, "next_attempt_at": None, "last_error": None}
    return _QUEUE.release(session, row.token, [row.id], values) == 1


def mark_failed(session: Session, *, row: ClaimedRow, error: str) -> bool:
    """Failed for good (until `requeue_failed`). False when the claim was lost."""
    values = {"status": FAILED, "next_attempt_at": None, "last_error": error[:2000]}
    return _QUEUE.release(session, row.token, [row.id], values) == 1


def defer(session: Session, *, row: ClaimedRow, until: datetime, error: str) -> bool:
    """Leave the row pending, to be tried again at `until`. False when the claim was lost."""
    return _QUEUE.release(session, row.token, [row.id], {"next_attempt_at": until, "last_error": error[:2000]}) == 1


def requeue_failed(session: Session, *, channel: str | None = None) -> int:
    """Make failed rows pending again (after fixing the token or inviting the bot); returns how many."""
    stmt = update(SlackOutbox).where(SlackOutbox.status == FAILED)
    if channel is not None:
        stmt = stmt.where(SlackOutbox.channel == channel)
    result = session.execute(stmt.values(status=PENDING, next_attempt_at=None))
    return int(result.rowcount)  # type: ignore[attr-defined]


def outbox_counts(session: Session) -> OutboxCounts:
    """How many notifications are pending, sent and failed (for /metrics and the dispatcher's artifact)."""
    rows = session.execute(select(SlackOutbox.status, func.count()).group_by(SlackOutbox.status)).all()
    found = {str(status): int(count) for status, count in rows}
    return OutboxCounts(pending=found.get(PENDING, 0), sent=found.get(SENT, 0), failed=found.get(FAILED, 0))


def slack_outbox_counts(engine: Engine) -> OutboxCounts:
    """`outbox_counts` in its own short transaction: what the gateway's /metrics reads at scrape time."""
    with unit_of_work(engine) as session:
        return outbox_counts(session)
