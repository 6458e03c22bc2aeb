"""Restore marks: after a backup is restored, requests planned before the restore are reconciled with the
provider before any send (the snapshot cannot know what was sent after it was taken)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tasks.store.accounts import as_utc
from tasks.store.models import RestoreMark, ReviewRequest


def mark_restored(session: Session, *, snapshot_at: datetime, manifest: str | None = None) -> RestoreMark:
    """Record that this database was just restored from a snapshot taken at `snapshot_at`."""
    last = session.scalar(select(func.max(ReviewRequest.id))) or 0
    mark = RestoreMark(
        restored_at=datetime.now(UTC), snapshot_at=snapshot_at, last_request_id=int(last), manifest=manifest
    )
    session.add(mark)
    return mark


def reconcile_since(session: Session, *, request_id: int) -> datetime | None:
    """The earliest snapshot time of a restore that happened after this request was planned, else None:
    a provider may hold messages for it sent after that time which this database does not know about."""
    earliest = session.scalar(
        select(func.min(RestoreMark.snapshot_at)).where(RestoreMark.last_request_id >= request_id)
    )
    return as_utc(earliest) if earliest is not None else None
