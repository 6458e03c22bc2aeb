"""Sync's repository: idempotent upserts of mapped Jobber records (SQLite and PostgreSQL), deletes, watermarks.

It writes the synced tables of ``tasks.store.models`` from ``tasks.sync.mapping``'s records, so it lives in
sync, above the store.

Upserts never let an older version of a record overwrite a newer one (a slow reconciliation page
racing a webhook refresh): the row is replaced only when the incoming `updatedAt` is not older.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tasks.store.accounts import as_utc
from tasks.store.models import (
    SYNCED_MODELS,
    ClientEmail,
    ClientPhone,
    SyncWatermark,
    VisitAssignment,
)
from tasks.sync.mapping import MappedRecord


@dataclass
class UpsertCounts:
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def merge(self, other: UpsertCounts) -> None:
        for mine, theirs in (
            (self.created, other.created),
            (self.updated, other.updated),
            (self.unchanged, other.unchanged),
        ):
            for key, value in theirs.items():
                mine[key] += value


def flatten(records: Iterable[MappedRecord]) -> dict[str, dict[str, MappedRecord]]:
    """Records and the related records inside them, by resource and id (the last version of an id wins)."""
    by_resource: dict[str, dict[str, MappedRecord]] = defaultdict(dict)
    stack = list(records)
    while stack:
        record = stack.pop(0)
        by_resource[record.resource][record.row["id"]] = record
        stack.extend(record.related)
    return by_resource


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are implemented for SQLite and PostgreSQL, not {dialect}")


def upsert_records(session: Session, records: Iterable[MappedRecord]) -> UpsertCounts:
    """Insert or update every record (and its emails, phones, visit assignments) in the caller's transaction."""
    counts = UpsertCounts()
    for resource, by_id in flatten(records).items():
        model = SYNCED_MODELS[resource]
        table = model.__table__  # type: ignore[attr-defined]
        ids = list(by_id)
        existing = {
            row[0]: as_utc(row[1])
            for row in session.execute(select(table.c.id, table.c.jobber_updated_at).where(table.c.id.in_(ids)))
        }
        rows = [record.row for record in by_id.values()]
        for row in rows:
            if row["id"] not in existing:
                counts.created[resource] += 1
            elif existing[row["id"]] != row.get("jobber_updated_at") or row.get("jobber_updated_at") is None:
                counts.updated[resource] += 1
            else:
                counts.unchanged[resource] += 1
        stmt = _insert(session, table)
        columns = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "id"}
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.id],
            set_=columns,
            where=or_(
                table.c.jobber_updated_at.is_(None),
                stmt.excluded.jobber_updated_at.is_(None),
                stmt.excluded.jobber_updated_at >= table.c.jobber_updated_at,
            ),
        )
        for chunk in _chunks(rows, 500):
            session.execute(stmt, chunk)
        if resource == "clients":
            _replace_children(session, ClientEmail, "client_id", by_id, "emails")
            _replace_children(session, ClientPhone, "client_id", by_id, "phones")
        elif resource == "visits":
            _replace_children(session, VisitAssignment, "visit_id", by_id, "assignments")
    session.flush()
    return counts


def _replace_children(session: Session, model: Any, key: str, by_id: dict[str, MappedRecord], attr: str) -> None:
    owners = [i for i, record in by_id.items() if getattr(record, attr) is not None]
    if not owners:
        return
    session.execute(delete(model).where(getattr(model, key).in_(owners)))
    children = [child for i in owners for child in getattr(by_id[i], attr)]
    if children:
        session.execute(_insert(session, model.__table__).on_conflict_do_nothing(), children)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def delete_record(session: Session, *, resource: str, record_id: str) -> bool:
    """Delete a record that Jobber destroyed; True when a row was there."""
    model = SYNCED_MODELS[resource]
    table = model.__table__  # type: ignore[attr-defined]
    result = session.execute(delete(table).where(table.c.id == record_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def get_watermark(session: Session, *, account_key: str, resource: str) -> SyncWatermark:
    mark = session.get(SyncWatermark, (account_key, resource))
    if mark is None:
        mark = SyncWatermark(account_key=account_key, resource=resource)
        session.add(mark)
        session.flush()
    for name in ("watermark", "resume_since", "resume_high_water", "last_success_at"):
        setattr(mark, name, as_utc(getattr(mark, name)))
    return mark


def count_rows(session: Session, *, resource: str) -> int:
    from sqlalchemy import func

    model = SYNCED_MODELS[resource]
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def latest(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
