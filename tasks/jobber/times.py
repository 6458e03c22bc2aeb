"""Jobber's times, read and written: ISO 8601 (``ISO8601DateTime``/``ISO8601Date``) with ``Z``, an offset, or
no zone (read as UTC). The models' time fields are :data:`JobberTime`; :func:`parse_time` reads a raw value;
:func:`jobber_time_text` writes a time back as Jobber does (``2026-06-01T15:00:00Z``), so keys built from a
node's time (Slack's dedupe key, a review's ``job_completed_at``) read the same whether or not it was parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator


def aware(value: datetime) -> datetime:
    """``value`` with its zone, or as UTC when it names none."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


JobberTime = Annotated[datetime, AfterValidator(aware)]
"""A time from Jobber: ISO 8601, aware (UTC when Jobber names no zone)."""


def parse_time(value: Any) -> datetime | None:
    """A Jobber time as an aware datetime, UTC when it names no zone; None when empty or unreadable.
    Datetimes pass through (made aware); a date is its midnight, UTC."""
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    try:
        return aware(datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def jobber_time_text(moment: datetime | None) -> str | None:
    """A time as Jobber writes it, in UTC with ``Z`` (``2026-12-01T23:11:31Z``); None for None."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None
