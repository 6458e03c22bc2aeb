"""Small pieces the action modules share: building input objects and refusing unavailable actions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, NoReturn

from tasks.errors import JobberResponseError, NotAvailableInJobberAPI


def compact(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``None`` values: an input field left out means "leave unchanged" to Jobber."""
    return {key: value for key, value in values.items() if value is not None}


def iso(value: date | datetime | None) -> str | None:
    """An ISO 8601 string for Jobber's ``ISO8601Date``/``ISO8601DateTime`` scalars."""
    return None if value is None else value.isoformat()


def updated_after_filter(updated_after: datetime | None) -> dict[str, Any] | None:
    """``{"updatedAt": {"after": ...}}`` for the resources that support incremental reads."""
    return None if updated_after is None else {"updatedAt": {"after": updated_after.isoformat()}}


def require(payload: Mapping[str, Any], key: str, operation: str) -> Any:
    """``payload[key]``, or ``JobberResponseError`` when a successful mutation returned no object."""
    value = payload.get(key)
    if value is None:
        raise JobberResponseError(f"Jobber's {operation} answered without userErrors and without `{key}`")
    return value


def not_available(action: str, instead: str) -> NoReturn:
    """Raise ``NotAvailableInJobberAPI`` for a Make.com action Jobber's API cannot do."""
    raise NotAvailableInJobberAPI(f"{action}: not offered by Jobber's API. {instead}")
