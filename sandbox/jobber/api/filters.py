"""Filters and sorting as Jobber's list arguments define them.

Date range filters (``{after, before, eq}``) are inclusive and compared at one-second precision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ..models import (
    Client,
    Invoice,
    Job,
    Quote,
    Visit,
)
from ..store import parse_dt


# -- filters and sorting ------------------------------------------------------------------------
def _truncate(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def in_range(value: datetime | None, rng: Mapping[str, Any] | None) -> bool:
    if not rng:
        return True
    if value is None:
        return False
    value = _truncate(value)
    after, before, eq = parse_dt(rng.get("after")), parse_dt(rng.get("before")), parse_dt(rng.get("eq"))
    if after is not None and value < _truncate(after):
        return False
    if before is not None and value > _truncate(before):
        return False
    return not (eq is not None and value != _truncate(eq))


def num_range(value: float | None, rng: Mapping[str, Any] | None) -> bool:
    if not rng:
        return True
    if value is None:
        return False
    if rng.get("min") is not None and value < rng["min"]:
        return False
    if rng.get("max") is not None and value > rng["max"]:
        return False
    return not (rng.get("eq") is not None and value != rng["eq"])


def text_match(term: str | None, *texts: Any) -> bool:
    if not term:
        return True
    needle = term.strip().lower()
    return any(needle in str(t).lower() for t in texts if t is not None)


def apply_sort(items: list[Any], sort: Any, keys: Mapping[str, Callable[[Any], Any]]) -> list[Any]:
    if not sort:
        return items
    specs = sort if isinstance(sort, list) else [sort]
    out = list(items)
    for spec in reversed(specs):
        fn = keys.get(spec.get("key", ""))
        if fn is None:
            continue
        out.sort(key=_sort_key(fn), reverse=spec.get("direction") == "DESCENDING")
    return out


def _sort_key(fn: Callable[[Any], Any]) -> Callable[[Any], tuple[int, Any]]:
    return lambda item: _sortable(fn(item))


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, value.lower())
    return (1, value)


def id_set(values: Iterable[Any] | None) -> set[str] | None:
    return set(values) if values else None


JOB_SORT: dict[str, Callable[[Job], Any]] = {
    "UPDATED_AT": lambda j: j.updated_at,
    "CREATED_AT": lambda j: j.created_at,
    "JOB_NUMBER": lambda j: j.job_number,
    "TOTAL_COST": lambda j: j.total,
    "JOB_STATUS": lambda j: j.job_status,
    "CLIENT_FIRST_NAME": lambda j: j.client.first_name if j.client else None,
    "CLIENT_PRIMARY_NAME": lambda j: j.client.name if j.client else None,
    "SCHEDULE": lambda j: j.start_at,
    "VISIT_START_DATE": lambda j: j.start_at,
}


def filter_jobs(
    jobs: list[Job], filter: Mapping[str, Any] | None = None, sort: Any = None, search_term: str | None = None
) -> list[Job]:
    f = filter or {}
    ids = id_set(f.get("ids"))
    assignee = f.get("visitsAssignedToUserId")
    out = []
    for j in jobs:
        if ids is not None and j.id not in ids:
            continue
        if f.get("status") and j.job_status != f["status"]:
            continue
        if f.get("jobType") and j.job_type != f["jobType"]:
            continue
        if not (
            in_range(j.created_at, f.get("createdAt"))
            and in_range(j.start_at, f.get("startAt"))
            and in_range(j.end_at, f.get("endAt"))
            and in_range(j.completed_at, f.get("completedAt"))
        ):
            continue
        if f.get("visitsScheduledBetween") and not any(
            in_range(v.start_at, f["visitsScheduledBetween"]) for v in j.visits
        ):
            continue
        if assignee and not any(u.id == assignee for v in j.visits for u in v.assigned_users):
            continue
        if not text_match(search_term, j.title, j.job_number, j.client.name if j.client else None):
            continue
        out.append(j)
    return apply_sort(out, sort, JOB_SORT)


VISIT_SORT: dict[str, Callable[[Visit], Any]] = {
    "CREATED_AT": lambda v: v.created_at,
    "START_AT": lambda v: v.start_at,
    "CLIENT_PRIMARY_NAME": lambda v: v.client.name if v.client else None,
    "STATUS": lambda v: v.visit_status,
}


def filter_visits(visits: list[Visit], filter: Mapping[str, Any] | None = None, sort: Any = None) -> list[Visit]:
    f = filter or {}
    ids = id_set(f.get("ids"))
    out = []
    for v in visits:
        if ids is not None and v.id not in ids:
            continue
        if f.get("status") and v.visit_status != f["status"]:
            continue
        if not (
            in_range(v.created_at, f.get("createdAt"))
            and in_range(v.start_at, f.get("startAt"))
            and in_range(v.end_at, f.get("endAt"))
            and in_range(v.completed_at, f.get("completedAt"))
        ):
            continue
        if f.get("assignedTo") and not any(u.id == f["assignedTo"] for u in v.assigned_users):
            continue
        out.append(v)
    return apply_sort(out, sort, VISIT_SORT)


INVOICE_SORT: dict[str, Callable[[Invoice], Any]] = {
    "UPDATED_AT": lambda i: i.updated_at,
    "CREATED_AT": lambda i: i.created_at,
    "INVOICE_NUMBER": lambda i: int(i.invoice_number) if i.invoice_number.isdigit() else i.invoice_number,
    "INVOICE_STATUS": lambda i: i.invoice_status,
    "ISSUED_DATE": lambda i: i.issued_date,
    "DUE_DATE": lambda i: i.due_date,
    "RECEIVED_DATE": lambda i: i.received_date,
    "INVOICE_TOTAL": lambda i: i.total,
    "INVOICE_BALANCE": lambda i: i.balance,
    "CLIENT_PRIMARY_NAME": lambda i: i.client.name if i.client else None,
    "CLIENT_FIRST_NAME": lambda i: i.client.first_name if i.client else None,
    "CLIENT_LAST_NAME": lambda i: i.client.last_name if i.client else None,
}
QUOTE_SORT: dict[str, Callable[[Quote], Any]] = {
    "CREATED_AT": lambda q: q.created_at,
    "QUOTE_NUMBER": lambda q: int(q.quote_number) if q.quote_number.isdigit() else q.quote_number,
    "QUOTE_STATUS": lambda q: q.quote_status,
    "QUOTE_TOTAL": lambda q: q.total,
    "LAST_SENT_AT": lambda q: q.sent_at,
    "APPROVED_AT": lambda q: q.approved_at,
    "CONVERTED_AT": lambda q: q.converted_at,
    "CLIENT_PRIMARY_NAME": lambda q: q.client.name if q.client else None,
    "CLIENT_FIRST_NAME": lambda q: q.client.first_name if q.client else None,
    "CLIENT_LAST_NAME": lambda q: q.client.last_name if q.client else None,
    "PROPERTY_STREET1": lambda q: q.property_.street1 if q.property_ else None,
}
CLIENT_SORT: dict[str, Callable[[Client], Any]] = {
    "UPDATED_AT": lambda c: c.updated_at,
    "PRIMARY_NAME": lambda c: c.name,
    "FIRST_NAME": lambda c: c.first_name,
    "LAST_NAME": lambda c: c.last_name,
}
BASIC_SORT: dict[str, Callable[[Any], Any]] = {
    "CREATED_AT": lambda r: getattr(r, "created_at", None),
    "UPDATED_AT": lambda r: getattr(r, "updated_at", None),
    "START_AT": lambda r: getattr(r, "start_at", None),
    "DATE": lambda r: getattr(r, "date", None),
}
