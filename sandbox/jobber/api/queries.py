"""The root queries: one record by id, the account, and every filtered, sorted list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import (
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
from .filters import (
    BASIC_SORT,
    CLIENT_SORT,
    INVOICE_SORT,
    QUOTE_SORT,
    apply_sort,
    filter_jobs,
    filter_visits,
    id_set,
    in_range,
    num_range,
    text_match,
)
from .resolution import RESOLVERS, Info, Resolver, gql_context, resolves


# -- root queries -------------------------------------------------------------------------------
def _by_id(cls: type[Record]) -> Resolver:
    def resolve(_: Any, info: Info, id: Any = None, **__: Any) -> Any:
        return gql_context(info).store.get(id, cls)

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
def account_resolver(_: Any, info: Info, **__: Any) -> Any:
    store = gql_context(info).store
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
    store = gql_context(info).store
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
    for c in gql_context(info).store.clients:
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
        if searchTerm and not text_match(
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
    return apply_sort(out, sort, CLIENT_SORT)


@resolves("Query", "jobs")
def _jobs(
    _: Any,
    info: Info,
    filter: Mapping[str, Any] | None = None,
    sort: Any = None,
    searchTerm: str | None = None,
    **__: Any,
) -> list[Job]:
    return filter_jobs(gql_context(info).store.jobs, filter, sort, searchTerm)


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
    return filter_visits(gql_context(info).store.visits, filter, sort)


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
    for i in gql_context(info).store.invoices:
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
        if searchTerm and not text_match(searchTerm, i.invoice_number, i.subject, i.client.name if i.client else None):
            continue
        out.append(i)
    return apply_sort(out, sort, INVOICE_SORT)


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
    for q in gql_context(info).store.quotes:
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
        if searchTerm and not text_match(searchTerm, q.quote_number, q.title, q.client.name if q.client else None):
            continue
        out.append(q)
    return apply_sort(out, sort, QUOTE_SORT)


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
    for p in gql_context(info).store.rows(Property):
        if f.get("clientId") and (p.client is None or p.client.id != f["clientId"]):
            continue
        if searchTerm and not text_match(
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
    ids = id_set(f.get("userIds"))
    out = []
    for u in gql_context(info).store.users:
        if f.get("status") and u.status != f["status"]:
            continue
        if ids is not None and u.id not in ids:
            continue
        if searchTerm and not text_match(searchTerm, u.name["full"], u.email_raw):
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
    for r in gql_context(info).store.rows(Request):
        if f.get("status") and r.request_status != f["status"]:
            continue
        if f.get("clientId") and (r.client is None or r.client.id != f["clientId"]):
            continue
        if f.get("propertyId") and (r.property_ is None or r.property_.id != f["propertyId"]):
            continue
        if not (in_range(r.updated_at, f.get("updatedAt")) and in_range(r.created_at, f.get("createdAt"))):
            continue
        if searchTerm and not text_match(searchTerm, r.title, r.contact_name, r.email):
            continue
        out.append(r)
    return apply_sort(out, sort, BASIC_SORT)


@resolves("Query", "tasks")
def _tasks(_: Any, info: Info, filter: Mapping[str, Any] | None = None, sort: Any = None, **__: Any) -> list[Task]:
    f = filter or {}
    ids = id_set(f.get("ids"))
    out = []
    for t in gql_context(info).store.rows(Task):
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
    return apply_sort(out, sort or [{"key": "START_AT", "direction": "ASCENDING"}], BASIC_SORT)


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
    for e in gql_context(info).store.rows(Expense):
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
        if searchTerm and not text_match(searchTerm, e.title, e.description):
            continue
        out.append(e)
    return apply_sort(out, sort, BASIC_SORT)


@resolves("Query", "paymentRecords")
def _payment_records(_: Any, info: Info, **__: Any) -> list[Payment]:
    return gql_context(info).store.rows(Payment)
