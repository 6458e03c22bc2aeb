"""The webhook inbox: durable, deduplicated storage of received Jobber webhooks, and the relay's queries.

Rows are stored with `insert_rows` / `store_rows` (`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING` on SQLite
and PostgreSQL). The gateway writes through `InboxWriter` (tasks/store/inbox_writer.py), a group commit that
answers each request only after its batch is committed, within the store deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tasks.errors import InboxUnavailable
from tasks.store.accounts import as_utc
from tasks.store.models import WebhookInbox

_TABLE: Table = WebhookInbox.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A webhook about to be stored."""

    dedupe_key: str
    account_id: str
    topic: str
    item_id: str
    occurred_at: str
    body: str
    received_at: datetime
    work_state: str = "pending"  # "none" when nothing acts on the topic (tasks/events/routing.py)

    def columns(self) -> dict[str, Any]:
        """Its fields, by the name of the column each fills."""
        return {name: getattr(self, name) for name in ROW_COLUMNS}

    def values(self) -> dict[str, Any]:
        """The row to insert: its columns, and no relay attempt yet."""
        return {**self.columns(), "relay_attempts": 0}


# The columns an InboxRow fills, its fields by name (the table's defaults fill the rest).
ROW_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(InboxRow))


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A stored webhook, as the relay reads it."""

    id: int
    dedupe_key: str
    account_id: str
    topic: str
    item_id: str
    occurred_at: str
    received_at: datetime
    relay_attempts: int
    work_state: str = "pending"


def _conflict_free_insert(conn: Connection) -> Any:
    """`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key` for this dialect, or None."""
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    else:
        return None
    return dialect_insert(_TABLE).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(_TABLE.c.dedupe_key)


def insert_rows(conn: Connection, rows: Sequence[InboxRow]) -> set[str]:
    """Insert `rows` (skipping keys already stored) in the caller's transaction; the keys newly stored."""
    unique: dict[str, InboxRow] = {}
    for row in rows:
        unique.setdefault(row.dedupe_key, row)
    if not unique:
        return set()
    stmt = _conflict_free_insert(conn)
    if stmt is not None:
        result = conn.execute(stmt, [row.values() for row in unique.values()])
        return {str(key) for key in result.scalars().all()}
    stored: set[str] = set()  # other databases: one savepoint per row
    for key, row in unique.items():
        try:
            with conn.begin_nested():
                conn.execute(insert(_TABLE).values(**row.values()))
            stored.add(key)
        except IntegrityError:
            continue
    return stored


def store_rows(engine: Engine, rows: Sequence[InboxRow]) -> set[str]:
    """Insert `rows` in one committed transaction; the keys newly stored (the others were duplicates)."""
    with engine.begin() as conn:
        return insert_rows(conn, rows)


# -- the relay's queries --------------------------------------------------------------------------------


_UNRELAYED = (_TABLE.c.relayed_at.is_(None), _TABLE.c.relay_rejected_at.is_(None))


def fetch_unrelayed(conn: Connection, *, limit: int = 200) -> list[InboxEntry]:
    """The oldest rows not yet accepted by Prefect (rows it refused for good are set aside, not here)."""
    rows = conn.execute(
        select(
            _TABLE.c.id,
            _TABLE.c.dedupe_key,
            _TABLE.c.account_id,
            _TABLE.c.topic,
            _TABLE.c.item_id,
            _TABLE.c.occurred_at,
            _TABLE.c.received_at,
            _TABLE.c.relay_attempts,
            _TABLE.c.work_state,
        )
        .where(*_UNRELAYED)
        .order_by(_TABLE.c.id)
        .limit(limit)
    ).all()
    return [
        InboxEntry(
            id=int(r[0]),
            dedupe_key=r[1],
            account_id=r[2],
            topic=r[3],
            item_id=r[4],
            occurred_at=r[5],
            received_at=as_utc(r[6]) or datetime.now(UTC),
            relay_attempts=int(r[7] or 0),
            work_state=str(r[8]),
        )
        for r in rows
    ]


def mark_relayed(conn: Connection, *, ids: Sequence[int], at: datetime | None = None) -> None:
    if not ids:
        return
    conn.execute(
        update(_TABLE)
        .where(_TABLE.c.id.in_(list(ids)))
        .values(relayed_at=at or datetime.now(UTC), relay_attempts=_TABLE.c.relay_attempts + 1, last_error=None)
    )


def record_relay_failure(conn: Connection, *, ids: Sequence[int], error: str) -> None:
    if not ids:
        return
    conn.execute(
        update(_TABLE)
        .where(_TABLE.c.id.in_(list(ids)))
        .values(relay_attempts=_TABLE.c.relay_attempts + 1, last_error=error[:2000])
    )


def set_aside_rejected(conn: Connection, *, reasons: Mapping[int, str], at: datetime | None = None) -> None:
    """Prefect refused these rows' events for good: set them aside with the reason (`relay_rejected_at`,
    `last_error`), so the relay no longer sends them and they no longer hold up the rows after them."""
    when = at or datetime.now(UTC)
    for row_id, reason in reasons.items():
        conn.execute(
            update(_TABLE)
            .where(_TABLE.c.id == row_id, _TABLE.c.relayed_at.is_(None))
            .values(relay_rejected_at=when, relay_attempts=_TABLE.c.relay_attempts + 1, last_error=reason[:2000])
        )


def relay_rejections(engine: Engine) -> int:
    """How many rows are set aside because Prefect refused their events (an indexed count)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(_TABLE.c.relay_rejected_at.is_not(None))).scalar_one())


def release_relay_rejections(engine: Engine, *, ids: Sequence[int] | None = None) -> int:
    """Put rows set aside back in the relay's queue (all of them, or `ids`), say after fixing what Prefect
    refused; the number released."""
    statement = update(_TABLE).where(_TABLE.c.relay_rejected_at.is_not(None)).values(relay_rejected_at=None)
    if ids is not None:
        statement = statement.where(_TABLE.c.id.in_(list(ids)))
    with engine.begin() as conn:
        return int(conn.execute(statement).rowcount or 0)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows waiting for the relay, and how old the oldest one is."""

    count: int
    oldest_received_at: datetime | None

    def lag_seconds(self, now: datetime | None = None) -> float:
        return seconds_since(self.oldest_received_at, now)


def seconds_since(received_at: datetime | None, now: datetime | None = None) -> float:
    """How long ago `received_at` was (0 when there is none, never negative): the age of a backlog's oldest row."""
    if received_at is None:
        return 0.0
    return max(0.0, ((now or datetime.now(UTC)) - received_at).total_seconds())


def backlog(engine: Engine) -> Backlog:
    with engine.connect() as conn:
        row = conn.execute(select(func.count(), func.min(_TABLE.c.received_at)).where(*_UNRELAYED)).one()
    return Backlog(count=int(row[0] or 0), oldest_received_at=as_utc(row[1]))


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_TABLE)).scalar_one())


def stored_keys(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(k) for k in conn.execute(select(_TABLE.c.dedupe_key)).scalars()}


__all__ = [
    "Backlog",
    "InboxEntry",
    "InboxRow",
    "InboxUnavailable",
    "ROW_COLUMNS",
    "backlog",
    "count_rows",
    "fetch_unrelayed",
    "insert_rows",
    "mark_relayed",
    "record_relay_failure",
    "relay_rejections",
    "release_relay_rejections",
    "seconds_since",
    "set_aside_rejected",
    "store_rows",
    "stored_keys",
]
