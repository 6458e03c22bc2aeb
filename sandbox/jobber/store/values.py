"""The values the store reads and writes: times, GraphQL names, addresses, and the one error it raises.

``UserError`` is what Jobber answers as ``userErrors`` (GraphQL) or HTTP 4xx (the action endpoints).
Times are stored as aware UTC datetimes at one-second precision, as Jobber serves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UserError(Exception):
    def __init__(self, message: str, path: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = list(path)


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(value: Any) -> datetime | None:
    """Parse an ISO 8601 date or date-time (``Z`` allowed); naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"Invalid date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def find_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_SNAKE_CACHE: dict[str, str] = {}


def snake(name: str) -> str:
    out = _SNAKE_CACHE.get(name)
    if out is None:
        out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        _SNAKE_CACHE[name] = out
    return out


def assign(rec: object, attrs: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Set each of ``keys`` that ``attrs`` gives (not None) on the record's snake_case attribute."""
    for key in keys:
        if attrs.get(key) is not None:
            setattr(rec, snake(key), attrs[key])


ADDRESS_KEYS = ("street1", "street2", "city", "province", "postalCode", "country")


def client_address(attrs: dict[str, Any], current: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(current or {})
    for key in ADDRESS_KEYS:
        if attrs.get(key) is not None:
            out[key] = attrs[key]
    for key in (*ADDRESS_KEYS, "latitude", "longitude"):
        out.setdefault(key, "")
    out["street"] = ", ".join(s for s in (out["street1"], out["street2"]) if s)
    return out
