"""When work happens: a job's schedule and status from its visits, and local times read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..models import Job
from .values import UserError, find_zone, now_s


def recompute_schedule(job: Job) -> None:
    """A job's start and end follow its visits."""
    starts = [v.start_at for v in job.visits if v.start_at]
    ends = [v.end_at or v.start_at for v in job.visits if v.start_at]
    job.start_at = min(starts) if starts else None
    job.end_at = max(e for e in ends if e) if ends else None


def local_dt(attrs: dict[str, Any] | None) -> datetime | None:
    """LocalDateTimeAttributes {date, time, timezone} -> aware UTC datetime."""
    if not attrs or not attrs.get("date"):
        return None
    text = f"{attrs['date']}T{attrs.get('time') or '09:00:00'}"
    try:
        naive = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UserError(f"Invalid date/time: {text}", ["schedule"]) from exc
    zone = find_zone(attrs.get("timezone") or "UTC") or UTC
    return naive.replace(tzinfo=naive.tzinfo or zone).astimezone(UTC).replace(microsecond=0)


def at_time(day: datetime, time_text: Any, tz: str) -> datetime | None:
    if not time_text:
        return None
    zone = find_zone(tz) or UTC
    try:
        naive = datetime.fromisoformat(f"{day.astimezone(zone).date().isoformat()}T{time_text}")
    except ValueError:
        return None
    return naive.replace(tzinfo=naive.tzinfo or zone).astimezone(UTC).replace(microsecond=0)


def job_status_for(job: Job) -> str:
    if job.completed_at is not None:
        return "archived"
    if not job.visits:
        return "unscheduled"
    if all(v.completed_at for v in job.visits):
        return "requires_invoicing"
    now = now_s()
    open_visits = [v for v in job.visits if not v.completed_at]
    if any(v.start_at and (v.end_at or v.start_at) < now for v in open_visits):
        return "late"
    if any(v.start_at and v.start_at.date() == now.date() for v in open_visits):
        return "today"
    if all(v.start_at and v.start_at > now for v in open_visits) and not any(v.completed_at for v in job.visits):
        return "upcoming"
    return "active"
