"""Jobber's GraphQL API over the sandbox store, executed by graphql-core against the real schema.

The schema is ``build_client_schema`` of Jobber's introspection (2025-04-16) copied into
``tasks/jobber/schema``. One generic field resolver serves every type: it reads the snake_case
attribute of a record (or the key of a dict), turns lists into Relay connections where the schema
says so, formats date-times as ``YYYY-MM-DDTHH:MM:SSZ``, and fills any non-null field the sandbox
does not model with a neutral value, so no selection fails on non-null. Root fields and mutations
have explicit resolvers. ``handle_graphql`` implements the HTTP contract (auth, version header,
request limit, query cost and throttling).

Date range filters (``{after, before, eq}``) are inclusive and compared at one-second precision.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationType,
    build_client_schema,
    execute_sync,
    get_named_type,
    parse,
    validate,
)
from graphql.language import FieldNode

from .cost import actual_cost, find_operation, is_connection_type, requested_cost
from .ids import decode_cursor, encode_cursor, encode_id
from .models import (
    Client,
    Expense,
    Invoice,
    Job,
    Payment,
    Property,
    Quote,
    Record,
    Request,
    Task,
    User,
    Visit,
)
from .store import SandboxStore, UserError, iso, now_s, parse_dt

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    Info = GraphQLResolveInfo[Any]
else:
    Info = GraphQLResolveInfo

SCHEMA_VERSION = "2025-04-16"
SCHEMA_ENV = "JOBBER_SANDBOX_SCHEMA"
THROTTLE_DOCS = "https://developer.getjobber.com/docs/using_jobbers_api/api_rate_limits"
VERSION_HEADER = "x-jobber-graphql-version"
MISSING: Any = object()


def schema_path() -> Path:
    override = os.environ.get(SCHEMA_ENV)
    if override:
        return Path(override)
    root = Path(__file__).resolve().parents[2]
    return root / "tasks" / "jobber" / "schema" / f"schema-{SCHEMA_VERSION}.introspection.json"


@lru_cache(maxsize=2)
def _load_schema(path: str) -> GraphQLSchema:
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    return build_client_schema(raw.get("data", raw))


def load_schema() -> GraphQLSchema:
    return _load_schema(str(schema_path()))


# -- generic resolution -------------------------------------------------------------------------
_SNAKE: dict[str, str] = {}


def snake(name: str) -> str:
    out = _SNAKE.get(name)
    if out is None:
        out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        _SNAKE[name] = out
    return out


def _lookup(source: Any, name: str) -> Any:
    if source is None:
        return MISSING
    if isinstance(source, dict):
        return source.get(name, MISSING)
    attr = snake(name)
    value = getattr(source, attr, MISSING)
    if value is MISSING:
        value = getattr(source, attr + "_", MISSING)
    return value


_SCALAR_DEFAULTS: dict[str, Callable[[], Any]] = {
    "String": lambda: "",
    "Boolean": lambda: False,
    "Int": lambda: 0,
    "Float": lambda: 0.0,
    "ID": lambda: encode_id("Placeholder", 0),
    "EncodedId": lambda: encode_id("Placeholder", 0),
    "ISO8601DateTime": lambda: iso(now_s()),
    "ISO8601Date": lambda: now_s().date().isoformat(),
    "Minutes": lambda: 0,
}


def default_for(type_: Any, schema: GraphQLSchema) -> Any:
    """A neutral value for a field the sandbox does not model (None when nullable)."""
    if not isinstance(type_, GraphQLNonNull):
        return None
    inner = type_.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLScalarType):
        return _SCALAR_DEFAULTS.get(inner.name, lambda: "")()
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLObjectType):
        if is_connection_type(inner):
            return make_connection([], {}, inner, 100)
        return {"__typename": inner.name}
    if isinstance(inner, GraphQLInterfaceType | GraphQLUnionType):
        possible = schema.get_possible_types(inner)
        return {"__typename": possible[0].name if possible else inner.name}
    return None


def make_connection(items: list[Any], args: Mapping[str, Any], type_: Any, max_page: int) -> dict[str, Any]:
    total = len(items)
    after = decode_cursor(args.get("after"))
    before = decode_cursor(args.get("before"))
    start = after + 1 if after is not None else 0
    end = min(before, total) if before is not None else total
    first, last = args.get("first"), args.get("last")
    if first is not None:
        stop = min(end, start + max(0, min(int(first), max_page)))
    elif last is not None:
        start = max(start, end - max(0, min(int(last), max_page)))
        stop = end
    else:
        stop = min(end, start + max_page)
    start = max(0, min(start, total))
    stop = max(start, stop)
    page = items[start:stop]
    edges = [{"cursor": encode_cursor(start + i), "node": node} for i, node in enumerate(page)]
    return {
        "__typename": get_named_type(type_).name,
        "nodes": page,
        "edges": edges,
        "totalCount": total,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": stop < end,
            "hasPreviousPage": start > 0,
        },
    }


@dataclass
class GqlContext:
    store: SandboxStore
    schema: GraphQLSchema
    claims: dict[str, Any] = field(default_factory=dict)
    after_execute: list[Callable[[], None]] = field(default_factory=list)


Resolver = Callable[..., Any]
RESOLVERS: dict[tuple[str, str], Resolver] = {}


def resolves(type_name: str, *fields: str) -> Callable[[Resolver], Resolver]:
    def deco(fn: Resolver) -> Resolver:
        for f in fields:
            RESOLVERS[(type_name, f)] = fn
        return fn

    return deco


def field_resolver(source: Any, info: Info, **args: Any) -> Any:
    custom = RESOLVERS.get((info.parent_type.name, info.field_name))
    value = custom(source, info, **args) if custom is not None else _lookup(source, info.field_name)
    if value is MISSING or value is None:
        return default_for(info.return_type, info.schema)
    if isinstance(value, list) and is_connection_type(info.return_type):
        ctx: GqlContext = info.context
        return make_connection(value, args, info.return_type, ctx.store.cfg.max_page_size)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def type_resolver(value: Any, info: Info, abstract_type: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("__typename")
    else:
        name = getattr(value, "typename", None)
    if name and info.schema.get_type(name) is not None:
        possible = {t.name for t in info.schema.get_possible_types(abstract_type)}
        if name in possible or not possible:
            return str(name)
        if possible:
            return sorted(possible)[0]
    possible_types = info.schema.get_possible_types(abstract_type)
    return possible_types[0].name if possible_types else None


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


def _text_match(term: str | None, *texts: Any) -> bool:
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


def _ctx(info: Info) -> GqlContext:
    ctx: GqlContext = info.context
    return ctx


def _ids(values: Iterable[Any] | None) -> set[str] | None:
    return set(values) if values else None


_JOB_SORT: dict[str, Callable[[Job], Any]] = {
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
    ids = _ids(f.get("ids"))
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
        if not _text_match(search_term, j.title, j.job_number, j.client.name if j.client else None):
            continue
        out.append(j)
    return apply_sort(out, sort, _JOB_SORT)


_VISIT_SORT: dict[str, Callable[[Visit], Any]] = {
    "CREATED_AT": lambda v: v.created_at,
    "START_AT": lambda v: v.start_at,
    "CLIENT_PRIMARY_NAME": lambda v: v.client.name if v.client else None,
    "STATUS": lambda v: v.visit_status,
}


def filter_visits(visits: list[Visit], filter: Mapping[str, Any] | None = None, sort: Any = None) -> list[Visit]:
    f = filter or {}
    ids = _ids(f.get("ids"))
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
    return apply_sort(out, sort, _VISIT_SORT)


_INVOICE_SORT: dict[str, Callable[[Invoice], Any]] = {
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
_QUOTE_SORT: dict[str, Callable[[Quote], Any]] = {
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
_CLIENT_SORT: dict[str, Callable[[Client], Any]] = {
    "UPDATED_AT": lambda c: c.updated_at,
    "PRIMARY_NAME": lambda c: c.name,
    "FIRST_NAME": lambda c: c.first_name,
    "LAST_NAME": lambda c: c.last_name,
}
_BASIC_SORT: dict[str, Callable[[Any], Any]] = {
    "CREATED_AT": lambda r: getattr(r, "created_at", None),
    "UPDATED_AT": lambda r: getattr(r, "updated_at", None),
    "START_AT": lambda r: getattr(r, "start_at", None),
    "DATE": lambda r: getattr(r, "date", None),
}


# -- root queries -------------------------------------------------------------------------------
def _by_id(cls: type[Record]) -> Resolver:
    def resolve(_: Any, info: Info, id: Any = None, **__: Any) -> Any:
        return _ctx(info).store.get(id, cls)

    return resolve


for _name, _cls in (
    ("client", Client),
    ("job", Job),
    ("visit", Visit),
    ("invoice", Invoice),
    ("quote", Quote),
    ("property", Property),
    ("task", Task),
    ("request", Request),
    ("expense", Expense),
    ("paymentRecord", Payment),
):
    RESOLVERS[("Query", _name)] = _by_id(_cls)


@resolves("Query", "account")
def _account(_: Any, info: Info, **__: Any) -> Any:
    store = _ctx(info).store
    acct = store.account
    return {
        "__typename": "Account",
        "id": store.account_id,
        "name": acct.name,
        "createdAt": acct.created_at,
        "countryCode": acct.country_code,
        "phone": acct.phone,
        "mfaRequired": False,
    }


@resolves("Query", "user")
def _user(_: Any, info: Info, id: Any = None, **__: Any) -> Any:
    store = _ctx(info).store
    return store.get(id, User) if id else store.owner


@resolves("Query", "clients")
def _clients(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Client]:
    f = filter or {}
    tags = set(f.get("tags") or [])
    out = []
    for c in _ctx(info).store.clients:
        if f.get("isArchived") is not None and c.is_archived != f["isArchived"]:
            continue
        if f.get("isCompany") is not None and c.is_company != f["isCompany"]:
            continue
        if f.get("isLead") is not None and f["isLead"]:
            continue
        if not (in_range(c.updated_at, f.get("updatedAt")) and in_range(c.created_at, f.get("createdAt"))):
            continue
        if tags and not tags.intersection(t.label for t in c.tags):
            continue
        if searchTerm and not _text_match(
            searchTerm,
            c.name,
            c.first_name,
            c.last_name,
            c.company_name,
            *(e.address for e in c.emails),
            *(p.number for p in c.phones),
        ):
            continue
        out.append(c)
    return apply_sort(out, sort, _CLIENT_SORT)


@resolves("Query", "jobs")
def _jobs(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    sort: Any = None,
    searchTerm: str | None = None,
    **__: Any,
) -> list[Job]:
    return filter_jobs(_ctx(info).store.jobs, filter, sort, searchTerm)


@resolves("Client", "jobs")
@resolves("Property", "jobs")
def _nested_jobs(
    source: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Job]:
    return filter_jobs(list(source.jobs), filter, sort)


@resolves("Query", "visits")
def _visits(_: Any, info: Info, filter: Mapping[str, Any] | None = None, sort: Any = None, **__: Any) -> list[Visit]:
    return filter_visits(_ctx(info).store.visits, filter, sort)


@resolves("Job", "visits")
def _job_visits(
    source: Job,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Visit]:
    return filter_visits(list(source.visits), filter, sort)


@resolves("Query", "invoices")
def _invoices(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Invoice]:
    f = filter or {}
    out = []
    for i in _ctx(info).store.invoices:
        if f.get("status") and i.invoice_status != f["status"]:
            continue
        if f.get("clientId") and (i.client is None or i.client.id != f["clientId"]):
            continue
        if f.get("invoiceNumber") and i.invoice_number != str(f["invoiceNumber"]):
            continue
        if not (
            in_range(i.updated_at, f.get("updatedAt"))
            and in_range(i.created_at, f.get("createdAt"))
            and in_range(i.issued_date, f.get("issuedDate"))
            and in_range(i.due_date, f.get("dueDate"))
            and num_range(i.total, f.get("total"))
        ):
            continue
        if searchTerm and not _text_match(searchTerm, i.invoice_number, i.subject, i.client.name if i.client else None):
            continue
        out.append(i)
    return apply_sort(out, sort, _INVOICE_SORT)


@resolves("Query", "quotes")
def _quotes(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Quote]:
    f = filter or {}
    out = []
    for q in _ctx(info).store.quotes:
        if f.get("status") and q.quote_status != f["status"]:
            continue
        if f.get("clientId") and (q.client is None or q.client.id != f["clientId"]):
            continue
        number = int(q.quote_number) if q.quote_number.isdigit() else None
        if not (
            in_range(q.updated_at, f.get("updatedAt"))
            and in_range(q.created_at, f.get("createdAt"))
            and in_range(q.sent_at, f.get("sentAt"))
            and num_range(q.total, f.get("cost"))
            and num_range(number, f.get("quoteNumber"))
        ):
            continue
        if searchTerm and not _text_match(searchTerm, q.quote_number, q.title, q.client.name if q.client else None):
            continue
        out.append(q)
    return apply_sort(out, sort, _QUOTE_SORT)


@resolves("Query", "properties")
def _properties(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    **__: Any,
) -> list[Property]:
    f = filter or {}
    out = []
    for p in _ctx(info).store.rows(Property):
        if f.get("clientId") and (p.client is None or p.client.id != f["clientId"]):
            continue
        if searchTerm and not _text_match(
            searchTerm, p.street, p.city, p.postal_code, p.client.name if p.client else None
        ):
            continue
        out.append(p)
    return out


@resolves("Query", "users")
def _users(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    **__: Any,
) -> list[User]:
    f = filter or {}
    ids = _ids(f.get("userIds"))
    out = []
    for u in _ctx(info).store.users:
        if f.get("status") and u.status != f["status"]:
            continue
        if ids is not None and u.id not in ids:
            continue
        if searchTerm and not _text_match(searchTerm, u.name["full"], u.email_raw):
            continue
        out.append(u)
    return out


@resolves("Query", "requests")
def _requests(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Request]:
    f = filter or {}
    out = []
    for r in _ctx(info).store.rows(Request):
        if f.get("status") and r.request_status != f["status"]:
            continue
        if f.get("clientId") and (r.client is None or r.client.id != f["clientId"]):
            continue
        if f.get("propertyId") and (r.property_ is None or r.property_.id != f["propertyId"]):
            continue
        if not (in_range(r.updated_at, f.get("updatedAt")) and in_range(r.created_at, f.get("createdAt"))):
            continue
        if searchTerm and not _text_match(searchTerm, r.title, r.contact_name, r.email):
            continue
        out.append(r)
    return apply_sort(out, sort, _BASIC_SORT)


@resolves("Query", "tasks")
def _tasks(_: Any, info: Info, filter: Mapping[str, Any] | None = None, sort: Any = None, **__: Any) -> list[Task]:
    f = filter or {}
    ids = _ids(f.get("ids"))
    out = []
    for t in _ctx(info).store.rows(Task):
        if ids is not None and t.id not in ids:
            continue
        if f.get("assignedTo") and not any(u.id == f["assignedTo"] for u in t.assigned_users):
            continue
        if not (
            in_range(t.created_at, f.get("createdAt"))
            and in_range(t.start_at, f.get("startAt"))
            and in_range(t.end_at, f.get("endAt"))
        ):
            continue
        out.append(t)
    return apply_sort(out, sort or [{"key": "START_AT", "direction": "ASCENDING"}], _BASIC_SORT)


@resolves("Query", "expenses")
def _expenses(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    searchTerm: str | None = None,
    sort: Any = None,
    **__: Any,
) -> list[Expense]:
    f = filter or {}
    out = []
    for e in _ctx(info).store.rows(Expense):
        if f.get("enteredById") and (e.entered_by is None or e.entered_by.id != f["enteredById"]):
            continue
        if f.get("reimbursableToId") and (e.reimbursable_to is None or e.reimbursable_to.id != f["reimbursableToId"]):
            continue
        if not (
            in_range(e.updated_at, f.get("updatedAt"))
            and in_range(e.created_at, f.get("createdAt"))
            and in_range(e.date, f.get("date"))
        ):
            continue
        if searchTerm and not _text_match(searchTerm, e.title, e.description):
            continue
        out.append(e)
    return apply_sort(out, sort, _BASIC_SORT)


@resolves("Query", "paymentRecords")
def _payment_records(_: Any, info: Info, **__: Any) -> list[Payment]:
    return _ctx(info).store.rows(Payment)


# -- mutations ----------------------------------------------------------------------------------
def _mutation(type_name: str, field_name: str, empty: Mapping[str, Any]) -> Callable[[Resolver], Resolver]:
    """Register a mutation resolver; UserError becomes ``userErrors`` with ``empty`` for the other keys."""

    def deco(fn: Resolver) -> Resolver:
        def wrapper(source: Any, info: Info, **args: Any) -> Any:
            try:
                payload = fn(source, info, **args)
            except UserError as exc:
                return {**empty, "userErrors": [{"message": exc.message, "path": exc.path}]}
            payload.setdefault("userErrors", [])
            return payload

        RESOLVERS[(type_name, field_name)] = wrapper
        return fn

    return deco


def mutation(field_name: str, **empty: Any) -> Callable[[Resolver], Resolver]:
    return _mutation("Mutation", field_name, empty)


def _s(info: Info) -> SandboxStore:
    return _ctx(info).store


@mutation("clientCreate", client=None)
def _client_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"client": _s(info).client_create(input)}


@mutation("clientEdit", client=None)
def _client_edit(_: Any, info: Info, clientId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"client": _s(info).client_edit(clientId, input)}


@mutation("clientArchive", client=None)
def _client_archive(_: Any, info: Info, clientId: Any) -> dict[str, Any]:
    return {"client": _s(info).client_archive(clientId)}


@mutation("propertyCreate", client=None, properties=[])
def _property_create(_: Any, info: Info, clientId: Any, input: dict[str, Any]) -> dict[str, Any]:
    client, props = _s(info).property_create(clientId, input.get("properties") or [])
    return {"client": client, "properties": props}


@mutation("propertyEdit", property=None)
def _property_edit(_: Any, info: Info, propertyId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"property": _s(info).property_edit(propertyId, input)}


@mutation("jobCreate", job=None)
def _job_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"job": _s(info).job_create(input)}


@mutation("jobEdit", job=None)
def _job_edit(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"job": _s(info).job_edit(jobId, input)}


@mutation("jobClose", job=None)
def _job_close(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    mode = input.get("modifyIncompleteVisitsBy") or "COMPLETE_PAST_DESTROY_FUTURE"
    return {"job": _s(info).job_close(jobId, mode, input.get("completedOn"))}


@mutation("jobReopen", job=None)
def _job_reopen(_: Any, info: Info, jobId: Any) -> dict[str, Any]:
    return {"job": _s(info).job_reopen(jobId)}


@mutation("visitCreate", createdVisits=[], job=None)
def _visit_create(_: Any, info: Info, jobId: Any, input: dict[str, Any]) -> dict[str, Any]:
    job, visits = _s(info).visit_create(jobId, input.get("visits") or [])
    return {"job": job, "createdVisits": visits}


@mutation("visitEdit", visit=None)
def _visit_edit(_: Any, info: Info, id: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"visit": _s(info).visit_edit(id, attributes)}


@mutation("visitDelete", visits=None)
def _visit_delete(_: Any, info: Info, visitIds: list[Any]) -> dict[str, Any]:
    return {"visits": _s(info).visit_delete(visitIds)}


@mutation("visitComplete", visit=None)
def _visit_complete(
    _: Any,
    info: Info,
    visitId: Any,
    input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"visit": _s(info).visit_complete(visitId, (input or {}).get("completedAt"))}


@mutation("visitUncomplete", visit=None)
def _visit_uncomplete(_: Any, info: Info, visitId: Any) -> dict[str, Any]:
    return {"visit": _s(info).visit_uncomplete(visitId)}


@mutation("visitCreateLineItems", visit=None)
def _visit_line_items(_: Any, info: Info, visitId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"visit": _s(info).visit_create_line_items(visitId, input.get("lineItems") or [])}


@mutation("invoiceCreate", invoice=None)
def _invoice_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"invoice": _s(info).invoice_create(input)}


@mutation("invoiceEdit", invoice=None)
def _invoice_edit(_: Any, info: Info, invoiceId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"invoice": _s(info).invoice_edit(invoiceId, input)}


@mutation("quoteCreate", quote=None)
def _quote_create(_: Any, info: Info, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"quote": _s(info).quote_create(attributes)}


@mutation("quoteEdit", quote=None)
def _quote_edit(_: Any, info: Info, quoteId: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"quote": _s(info).quote_edit(quoteId, attributes)}


@mutation("quoteCreateNote", quote=None, quoteNote=None)
def _quote_create_note(_: Any, info: Info, quoteId: Any, input: dict[str, Any]) -> dict[str, Any]:
    quote, note = _s(info).quote_create_note(quoteId, input)
    return {"quote": quote, "quoteNote": note}


@mutation("quoteEditNote", quote=None, quoteNote=None)
def _quote_edit_note(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    quote, note = _s(info).quote_edit_note(input)
    return {"quote": quote, "quoteNote": note}


@mutation("requestCreate", request=None)
def _request_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"request": _s(info).request_create(input)}


@mutation("requestArchive", request=None)
def _request_archive(_: Any, info: Info, requestId: Any) -> dict[str, Any]:
    return {"request": _s(info).request_archive(requestId)}


@mutation("taskCreate", task=None)
def _task_create(
    _: Any,
    info: Info,
    input: dict[str, Any],
    clientId: Any = None,
    propertyId: Any = None,
    **__: Any,
) -> dict[str, Any]:
    return {"task": _s(info).task_create(input, clientId, propertyId)}


@mutation("taskEdit", task=None)
def _task_edit(_: Any, info: Info, taskId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"task": _s(info).task_edit(taskId, input)}


@mutation("taskDelete", deletedTasks=[])
def _task_delete(_: Any, info: Info, taskIds: list[Any], **__: Any) -> dict[str, Any]:
    return {"deletedTasks": _s(info).task_delete(taskIds)}


@mutation("expenseCreate", expense=None)
def _expense_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    return {"expense": _s(info).expense_create(input)}


@mutation("expenseEdit", expense=None)
def _expense_edit(_: Any, info: Info, expenseId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"expense": _s(info).expense_edit(expenseId, input)}


@mutation("expenseDelete", deletedExpense=None)
def _expense_delete(_: Any, info: Info, expenseId: Any) -> dict[str, Any]:
    return {"deletedExpense": _s(info).expense_delete(expenseId)}


@mutation("userEdit", user=None)
def _user_edit(_: Any, info: Info, userId: Any, input: dict[str, Any]) -> dict[str, Any]:
    return {"user": _s(info).user_edit(userId, input)}


@mutation("webhookEndpointCreate", webhookEndpoint=None)
def _webhook_endpoint_create(_: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    store = _s(info)
    ep = store.webhook_endpoint_create(input.get("topic") or "", input.get("url") or "")
    return {
        "webhookEndpoint": {
            "__typename": "WebhookEndpoint",
            "id": ep.id,
            "topic": ep.topic,
            "url": ep.url,
            "createdAt": ep.created_at,
            "updatedAt": ep.updated_at,
            "account": _account(None, info),
            "app": _app(store),
        }
    }


def _app(store: SandboxStore) -> dict[str, Any]:
    return {
        "__typename": "Application",
        "id": encode_id("Application", 1),
        "name": "Sandbox App",
        "displayName": "Sandbox App",
        "author": "jobberflow",
        "description": "Local Jobber sandbox app",
    }


@mutation("appDisconnect", app=None)
def _app_disconnect(_: Any, info: Info) -> dict[str, Any]:
    ctx = _ctx(info)
    ctx.after_execute.append(ctx.store.disconnect)  # tokens die after this response is built
    return {"app": _app(ctx.store)}


# -- HTTP contract ------------------------------------------------------------------------------
@dataclass
class GraphQLHTTPResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _cost_ext(store: SandboxStore, requested: int, actual: int) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": store.bucket.throttle_status(),
        }
    }


def _error_body(
    store: SandboxStore,
    message: str,
    requested: int = 0,
    code: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message}
    if code is not None:
        err["extensions"] = {"code": code, **(extra or {})}
    return {"errors": [err], "extensions": _cost_ext(store, requested, 0)}


def _root_fields(operation: Any) -> list[str]:
    return [sel.name.value for sel in operation.selection_set.selections if isinstance(sel, FieldNode)]


def handle_graphql(store: SandboxStore, headers: Mapping[str, str], raw_body: bytes) -> GraphQLHTTPResponse:
    """Answer one POST /api/graphql the way Jobber does. ``headers`` keys must be lower-case."""
    store.bump("graphql_requests")
    auth = headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    claims = store.tokens.verify(token) if token else None
    if claims is None:
        store.bump("unauthorized")
        return GraphQLHTTPResponse(401, {"message": "Unauthorized"})
    version = headers.get(VERSION_HEADER, "").strip()
    if not version:
        return GraphQLHTTPResponse(
            400,
            {
                "message": "Missing required header X-JOBBER-GRAPHQL-VERSION "
                "(for example X-JOBBER-GRAPHQL-VERSION: 2025-04-16)."
            },
        )
    store.versions_seen[version] += 1
    account_key = str(claims.get("account_id") or store.account_id)
    wait = store.limiter.check(account_key)
    if wait is not None:
        store.bump("rate_limited_429")
        resp_headers = {"Retry-After": str(max(1, math.ceil(wait)))} if store.cfg.retry_after else {}
        return GraphQLHTTPResponse(
            429,
            {
                "message": "Too Many Requests: rate limit exceeded "
                f"({store.cfg.request_limit} requests per "
                f"{int(store.cfg.request_window_s)} s)"
            },
            resp_headers,
        )
    try:
        payload = json.loads(raw_body or b"{}")
    except ValueError:
        return GraphQLHTTPResponse(400, {"message": "Request body must be JSON"})
    if not isinstance(payload, dict):
        return GraphQLHTTPResponse(400, {"message": "Request body must be a JSON object"})
    try:
        body = _execute(store, claims, payload)
    except Exception:  # a sandbox bug must not look like a Jobber answer
        log.exception("sandbox failed to execute a GraphQL request")
        return GraphQLHTTPResponse(500, {"message": "Internal server error"})
    if version < SCHEMA_VERSION:
        body.setdefault("extensions", {})["versioning"] = {
            "warning": f"API version {version} is deprecated and will stop working soon; upgrade to {SCHEMA_VERSION}.",
        }
    return GraphQLHTTPResponse(200, body)


def _execute(store: SandboxStore, claims: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    schema = load_schema()
    query = payload.get("query")
    variables = payload.get("variables") or {}
    operation_name = payload.get("operationName") or None
    if not isinstance(query, str) or not query.strip():
        return _error_body(store, "No query string was present")
    if not isinstance(variables, dict):
        return _error_body(store, "Variables must be a JSON object")
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"errors": [exc.formatted], "extensions": _cost_ext(store, 0, 0)}
    errors = validate(schema, document)
    if errors:
        return {"errors": [e.formatted for e in errors], "extensions": _cost_ext(store, 0, 0)}
    operation = find_operation(document, operation_name)
    if operation is None:
        msg = (
            f"Unknown operation named '{operation_name}'."
            if operation_name
            else "Must provide operation name if query contains multiple operations."
        )
        return _error_body(store, msg)
    requested = requested_cost(schema, document, operation, variables)
    if requested > store.bucket.maximum:
        # Jobber documents one answer for a query over budget, also when it can never fit: THROTTLED. Only
        # extensions.cost (requestedQueryCost > maximumAvailable) tells the two apart.
        store.bump("max_cost_exceeded")
        return _error_body(store, "Throttled", requested, "THROTTLED", {"documentation": THROTTLE_DOCS})
    if requested > store.bucket.available():
        store.bump("throttled")
        return _error_body(store, "Throttled", requested, "THROTTLED", {"documentation": THROTTLE_DOCS})
    roots = _root_fields(operation)
    is_mutation = operation.operation == OperationType.MUTATION
    ctx = GqlContext(store=store, schema=schema, claims=claims)
    with store.lock:
        for root in roots:
            if is_mutation:
                store.stats.mutations += 1
                store.stats.mutations_by_root_field[root] += 1
            else:
                store.stats.queries_by_root_field[root] += 1
        result = execute_sync(
            schema,
            document,
            root_value=None,
            context_value=ctx,
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=field_resolver,
            type_resolver=type_resolver,
        )
    data = result.data
    actual = actual_cost(schema, document, operation, variables, data)
    store.bucket.consume(actual)
    store.bump("points_charged", int(actual))
    for hook in ctx.after_execute:
        hook()
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    body["data"] = data
    body["extensions"] = _cost_ext(store, requested, actual)
    return body
