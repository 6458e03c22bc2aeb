"""Filters and sorting as Jobber's list arguments define them.

Date range filters (``{after, before, eq}``) are inclusive and compared at one-second precision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Generic, TypeVar

from ..models import Client, Expense, Invoice, Job, Property, Quote, Record, Request, Task, User, Visit
from ..store import parse_dt
from ..store.values import snake

T = TypeVar("T")
Test = Callable[[T, Any], bool]


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


# -- one list argument at a time ---------------------------------------------------------------
@dataclass(frozen=True)
class Check(Generic[T]):
    """One filter argument: ``test(record, value)`` decides when the argument is given.

    Given means truthy, or for a ``flag`` (a Boolean argument, where false filters too) not None.
    ``prepare`` turns the argument into what ``test`` reads (once per query, not once per record).
    """

    key: str
    test: Test[T]
    flag: bool = False
    prepare: Callable[[Any], Any] | None = None


def dates(get: Callable[[T], datetime | None]) -> Test[T]:
    return lambda rec, rng: in_range(get(rec), rng)


def date_checks(*keys: str) -> tuple[Check[Any], ...]:
    """Date range arguments named after the record's date-times (``createdAt`` filters ``created_at``)."""
    return tuple(Check(key, dates(attrgetter(snake(key)))) for key in keys)


def numbers(get: Callable[[T], float | None]) -> Test[T]:
    return lambda rec, rng: num_range(get(rec), rng)


def equals(get: Callable[[T], Any]) -> Test[T]:
    return lambda rec, value: bool(get(rec) == value)


def linked(get: Callable[[T], Record | None]) -> Test[T]:
    """The record's relation (client, property, user...) is the one whose id is given."""

    def test(rec: T, record_id: Any) -> bool:
        other = get(rec)
        return other is not None and other.id == record_id

    return test


def assigned(get: Callable[[T], Iterable[User]]) -> Test[T]:
    return lambda rec, user_id: any(u.id == user_id for u in get(rec))


def _id_in(rec: Record, ids: set[str]) -> bool:
    return rec.id in ids


IDS = Check[Any]("ids", _id_in, prepare=set)


def _client_name(rec: Job | Invoice | Quote | Property) -> str | None:
    return rec.client.name if rec.client else None


@dataclass(frozen=True)
class ListQuery(Generic[T]):
    """A list field's filter arguments (checked in order), its search and its sort keys (None: unsorted)."""

    checks: tuple[Check[T], ...] = ()
    search: Callable[[T], Iterable[Any]] | None = None
    sort: Mapping[str, Callable[[T], Any]] | None = None
    default_sort: Any = None

    def select(
        self, items: Iterable[T], filter: Mapping[str, Any] | None = None, sort: Any = None, search_term: Any = None
    ) -> list[T]:
        f = filter or {}
        given = [
            (check, check.prepare(f[check.key]) if check.prepare else f[check.key])
            for check in self.checks
            if (f.get(check.key) is not None if check.flag else f.get(check.key))
        ]
        search = self.search if search_term else None
        out = [
            item
            for item in items
            if all(check.test(item, value) for check, value in given)
            and (search is None or text_match(search_term, *search(item)))
        ]
        return out if self.sort is None else apply_sort(out, sort or self.default_sort, self.sort)


CLIENT_NAMES: dict[str, Callable[[Client], Any]] = {
    "PRIMARY_NAME": lambda c: c.name,
    "FIRST_NAME": lambda c: c.first_name,
    "LAST_NAME": lambda c: c.last_name,
}


def by_client(*keys: str) -> dict[str, Callable[[Any], Any]]:
    """Sort keys ``CLIENT_<key>``: the record's client's name of that kind (no client sorts first)."""

    def key_of(name: Callable[[Client], Any]) -> Callable[[Any], Any]:
        return lambda rec: name(rec.client) if rec.client else None

    return {f"CLIENT_{key}": key_of(CLIENT_NAMES[key]) for key in keys}


# Jobs and visits are scheduled, then done: both filter on the same four dates.
WORK_DATES = date_checks("createdAt", "startAt", "endAt", "completedAt")

JOBS = ListQuery[Job](
    checks=(
        IDS,
        Check("status", equals(lambda j: j.job_status)),
        Check("jobType", equals(lambda j: j.job_type)),
        *WORK_DATES,
        Check("visitsScheduledBetween", lambda j, rng: any(in_range(v.start_at, rng) for v in j.visits)),
        Check("visitsAssignedToUserId", assigned(lambda j: (u for v in j.visits for u in v.assigned_users))),
    ),
    search=lambda j: (j.title, j.job_number, _client_name(j)),
    sort={
        "UPDATED_AT": lambda j: j.updated_at,
        "CREATED_AT": lambda j: j.created_at,
        "JOB_NUMBER": lambda j: j.job_number,
        "TOTAL_COST": lambda j: j.total,
        "JOB_STATUS": lambda j: j.job_status,
        **by_client("FIRST_NAME", "PRIMARY_NAME"),
        "SCHEDULE": lambda j: j.start_at,
        "VISIT_START_DATE": lambda j: j.start_at,
    },
)


VISITS = ListQuery[Visit](
    checks=(
        IDS,
        Check("status", equals(lambda v: v.visit_status)),
        *WORK_DATES,
        Check("assignedTo", assigned(lambda v: v.assigned_users)),
    ),
    sort={
        "CREATED_AT": lambda v: v.created_at,
        "START_AT": lambda v: v.start_at,
        **by_client("PRIMARY_NAME"),
        "STATUS": lambda v: v.visit_status,
    },
)


INVOICES = ListQuery[Invoice](
    checks=(
        Check("status", equals(lambda i: i.invoice_status)),
        Check("clientId", linked(lambda i: i.client)),
        Check("invoiceNumber", lambda i, number: i.invoice_number == str(number)),
        *date_checks("updatedAt", "createdAt", "issuedDate", "dueDate"),
        Check("total", numbers(lambda i: i.total)),
    ),
    search=lambda i: (i.invoice_number, i.subject, _client_name(i)),
    sort={
        "UPDATED_AT": lambda i: i.updated_at,
        "CREATED_AT": lambda i: i.created_at,
        "INVOICE_NUMBER": lambda i: int(i.invoice_number) if i.invoice_number.isdigit() else i.invoice_number,
        "INVOICE_STATUS": lambda i: i.invoice_status,
        "ISSUED_DATE": lambda i: i.issued_date,
        "DUE_DATE": lambda i: i.due_date,
        "RECEIVED_DATE": lambda i: i.received_date,
        "INVOICE_TOTAL": lambda i: i.total,
        "INVOICE_BALANCE": lambda i: i.balance,
        **by_client("PRIMARY_NAME", "FIRST_NAME", "LAST_NAME"),
    },
)


QUOTES = ListQuery[Quote](
    checks=(
        Check("status", equals(lambda q: q.quote_status)),
        Check("clientId", linked(lambda q: q.client)),
        *date_checks("updatedAt", "createdAt", "sentAt"),
        Check("cost", numbers(lambda q: q.total)),
        Check("quoteNumber", numbers(lambda q: int(q.quote_number) if q.quote_number.isdigit() else None)),
    ),
    search=lambda q: (q.quote_number, q.title, _client_name(q)),
    sort={
        "CREATED_AT": lambda q: q.created_at,
        "QUOTE_NUMBER": lambda q: int(q.quote_number) if q.quote_number.isdigit() else q.quote_number,
        "QUOTE_STATUS": lambda q: q.quote_status,
        "QUOTE_TOTAL": lambda q: q.total,
        "LAST_SENT_AT": lambda q: q.sent_at,
        "APPROVED_AT": lambda q: q.approved_at,
        "CONVERTED_AT": lambda q: q.converted_at,
        **by_client("PRIMARY_NAME", "FIRST_NAME", "LAST_NAME"),
        "PROPERTY_STREET1": lambda q: q.property_.street1 if q.property_ else None,
    },
)


CLIENT_SORT: dict[str, Callable[[Client], Any]] = {"UPDATED_AT": lambda c: c.updated_at, **CLIENT_NAMES}
CLIENTS = ListQuery[Client](
    checks=(
        Check("isArchived", equals(lambda c: c.is_archived), flag=True),
        Check("isCompany", equals(lambda c: c.is_company), flag=True),
        Check("isLead", lambda c, _: False),  # the sandbox has no leads
        *date_checks("updatedAt", "createdAt"),
        Check("tags", lambda c, tags: any(t.label in tags for t in c.tags), prepare=set),
    ),
    search=lambda c: (
        c.name,
        c.first_name,
        c.last_name,
        c.company_name,
        *(e.address for e in c.emails),
        *(p.number for p in c.phones),
    ),
    sort=CLIENT_SORT,
)


BASIC_SORT: dict[str, Callable[[Any], Any]] = {
    "CREATED_AT": lambda r: getattr(r, "created_at", None),
    "UPDATED_AT": lambda r: getattr(r, "updated_at", None),
    "START_AT": lambda r: getattr(r, "start_at", None),
    "DATE": lambda r: getattr(r, "date", None),
}
PROPERTIES = ListQuery[Property](
    checks=(Check("clientId", linked(lambda p: p.client)),),
    search=lambda p: (p.street, p.city, p.postal_code, _client_name(p)),
)
USERS = ListQuery[User](
    checks=(
        Check("status", equals(lambda u: u.status)),
        Check("userIds", _id_in, prepare=set),
    ),
    search=lambda u: (u.name["full"], u.email_raw),
)
REQUESTS = ListQuery[Request](
    checks=(
        Check("status", equals(lambda r: r.request_status)),
        Check("clientId", linked(lambda r: r.client)),
        Check("propertyId", linked(lambda r: r.property_)),
        *date_checks("updatedAt", "createdAt"),
    ),
    search=lambda r: (r.title, r.contact_name, r.email),
    sort=BASIC_SORT,
)
TASKS = ListQuery[Task](
    checks=(
        IDS,
        Check("assignedTo", assigned(lambda t: t.assigned_users)),
        *date_checks("createdAt", "startAt", "endAt"),
    ),
    sort=BASIC_SORT,
    default_sort=[{"key": "START_AT", "direction": "ASCENDING"}],
)
EXPENSES = ListQuery[Expense](
    checks=(
        Check("enteredById", linked(lambda e: e.entered_by)),
        Check("reimbursableToId", linked(lambda e: e.reimbursable_to)),
        *date_checks("updatedAt", "createdAt", "date"),
    ),
    search=lambda e: (e.title, e.description),
    sort=BASIC_SORT,
)
