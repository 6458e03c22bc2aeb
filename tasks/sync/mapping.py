"""Jobber nodes -> database rows. Pure functions, tolerant of what real data does.

A node is read through the models of ``tasks/jobber/models.py`` (``Model.read``): a value of the wrong type
is set aside and described, so a node with an unexpected null, an enum value this version of the project
does not know, or a field whose type changed is still stored (with its raw JSON); the problem is returned
as a `RecordIssue` so the sync run can report it. Nothing here raises on bad data except a node without
an id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from tasks.jobber.models import Client, Invoice, Job, JobberModel, Property, Quote, User, Visit, connection_nodes

M = TypeVar("M", Client, Property, Job, Visit, Invoice, Quote, User)

ENUMS = {
    "jobs.job_status": "JobStatusTypeEnum",
    "invoices.invoice_status": "InvoiceStatusTypeEnum",
    "quotes.quote_status": "QuoteStatusTypeEnum",
    "visits.visit_status": "VisitStatusTypeEnum",
}


@dataclass(frozen=True)
class RecordIssue:
    resource: str
    record_id: str | None
    problem: str


@dataclass
class MappedRecord:
    """One row for the resource's table, plus its child rows and related records found inside it."""

    resource: str
    row: dict[str, Any]
    emails: list[dict[str, Any]] | None = None
    phones: list[dict[str, Any]] | None = None
    assignments: list[dict[str, Any]] | None = None
    related: list[MappedRecord] = field(default_factory=list)
    issues: list[RecordIssue] = field(default_factory=list)


@cache
def known_enum_values(enum_name: str) -> frozenset[str]:
    from graphql import GraphQLEnumType

    from tasks.jobber.schema_tools import load_schema

    enum = load_schema().get_type(enum_name)
    if not isinstance(enum, GraphQLEnumType):
        return frozenset()
    return frozenset(enum.values)


def _read(model: type[M], resource: str, node: Mapping[str, Any]) -> tuple[M, list[RecordIssue]]:
    """The node as ``model``, and what did not fit as issues; ValueError for a node without an id."""
    if not node.get("id"):
        raise ValueError(f"a {resource} node without an id cannot be stored")
    record, problems = model.read(node)
    return record, [RecordIssue(resource, record.id, problem) for problem in problems]


def _enum(issues: list[RecordIssue], resource: str, record_id: str, column: str, path: str, value: str | None) -> None:
    """Record a value the bundled schema's enum does not know (it is stored as is)."""
    known = known_enum_values(ENUMS[f"{resource}.{column}"])
    if value is not None and known and value not in known:
        issues.append(RecordIssue(resource, record_id, f"{path} has the unknown value {value!r} (stored as is)"))


def _ref(value: JobberModel | None) -> str | None:
    return getattr(value, "id", None) if value is not None else None


Record = Client | Property | Job | Visit | Invoice | Quote | User


def _row(record: Record, node: Mapping[str, Any], fetched_at: datetime, account_key: str) -> dict[str, Any]:
    """The columns every synced table has; ``raw`` keeps the node as Jobber sent it."""
    return {
        "id": record.id,
        "account_key": account_key,
        "jobber_created_at": getattr(record, "created_at", None),
        "jobber_updated_at": getattr(record, "updated_at", None),
        "raw": dict(node),
        "fetched_at": fetched_at,
    }


def _property_row(prop: Property, client_id: str | None) -> dict[str, Any]:
    address = prop.address
    return {
        "client_id": _ref(prop.client) or client_id,
        "street": address.street if address else None,
        "city": address.city if address else None,
        "province": address.province if address else None,
        "postal_code": address.postal_code if address else None,
        "country": address.country if address else None,
    }


def _nested(node: Mapping[str, Any], key: str, record_id: str) -> Mapping[str, Any]:
    """The raw node of a nested record (its ``raw`` column), found by id in ``node[key]``."""
    value = node.get(key)
    candidates = connection_nodes(value) if not isinstance(value, Mapping) or "id" not in value else [value]
    return next((c for c in candidates if isinstance(c, Mapping) and str(c.get("id")) == record_id), {"id": record_id})


def map_property(
    node: Mapping[str, Any], *, fetched_at: datetime, account_key: str, client_id: str | None = None
) -> MappedRecord:
    prop, issues = _read(Property, "properties", node)
    return _mapped_property(prop, node, fetched_at, account_key, client_id, issues)


def _mapped_property(
    prop: Property,
    node: Mapping[str, Any],
    fetched_at: datetime,
    account_key: str,
    client_id: str | None,
    issues: list[RecordIssue] | None = None,
) -> MappedRecord:
    row = _row(prop, node, fetched_at, account_key) | _property_row(prop, client_id)
    return MappedRecord("properties", row, issues=issues or [])


def map_client(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    client, issues = _read(Client, "clients", node)
    if client.name is None:
        issues.append(RecordIssue("clients", client.id, "name is null"))
    emails = [
        {
            "client_id": client.id,
            "position": i,
            "address": e.address,
            "is_primary": bool(e.primary),
            "description": e.description,
        }
        for i, e in enumerate(client.emails)
        if e.address
    ]
    phones = [
        {
            "client_id": client.id,
            "position": i,
            "number": p.number,
            "is_primary": bool(p.primary),
            "sms_allowed": p.sms_allowed,
            "description": p.description,
        }
        for i, p in enumerate(client.phones)
        if p.number
    ]
    primary_phone = client.primary_phone_entry
    row = _row(client, node, fetched_at, account_key) | {
        "name": client.name,
        "first_name": client.first_name,
        "last_name": client.last_name,
        "company_name": client.company_name,
        "is_company": client.is_company,
        "is_archived": client.is_archived,
        "primary_email": client.primary_email,
        "primary_phone": primary_phone.number if primary_phone else None,
        "sms_allowed": primary_phone.sms_allowed if primary_phone else None,
        "tags": client.tag_labels,
    }
    related = [
        _mapped_property(p, _nested(node, "clientProperties", p.id), fetched_at, account_key, client.id)
        for p in client.client_properties
    ]
    return MappedRecord("clients", row, emails=emails, phones=phones, related=related, issues=issues)


def map_visit(
    node: Mapping[str, Any],
    *,
    fetched_at: datetime,
    account_key: str,
    job_id: str | None = None,
    client_id: str | None = None,
    property_id: str | None = None,
) -> MappedRecord:
    visit, issues = _read(Visit, "visits", node)
    return _mapped_visit(visit, node, fetched_at, account_key, (job_id, client_id, property_id), issues)


def _mapped_visit(
    visit: Visit,
    node: Mapping[str, Any],
    fetched_at: datetime,
    account_key: str,
    parents: tuple[str | None, str | None, str | None],
    issues: list[RecordIssue] | None = None,
) -> MappedRecord:
    job_id, client_id, property_id = parents
    assignments = [
        {"visit_id": visit.id, "user_id": user.id, "user_name": user.name.full if user.name else None}
        for user in visit.assigned_users
    ]
    issues = issues or []
    _enum(issues, "visits", visit.id, "visit_status", "visitStatus", visit.visit_status)
    row = _row(visit, node, fetched_at, account_key) | {
        "job_id": _ref(visit.job) or job_id,
        "client_id": _ref(visit.client) or client_id,
        "property_id": _ref(visit.property) or property_id,
        "title": visit.title,
        "visit_status": visit.visit_status,
        "is_complete": visit.is_complete,
        "completed_at": visit.completed_at,
        "start_at": visit.start_at,
        "end_at": visit.end_at,
    }
    return MappedRecord("visits", row, assignments=assignments, issues=issues)


def map_job(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    job, issues = _read(Job, "jobs", node)
    client_id, property_id = _ref(job.client), _ref(job.property)
    _enum(issues, "jobs", job.id, "job_status", "jobStatus", job.job_status)
    row = _row(job, node, fetched_at, account_key) | {
        "job_number": job.job_number,
        "title": job.title,
        "job_status": job.job_status,
        "client_id": client_id,
        "property_id": property_id,
        "completed_at": job.completed_at,
        "total": job.total,
    }
    related: list[MappedRecord] = []
    if job.property is not None:
        prop_node = node.get("property")
        related.append(
            _mapped_property(
                job.property, prop_node if isinstance(prop_node, Mapping) else {}, fetched_at, account_key, client_id
            )
        )
    related += [
        _mapped_visit(v, _nested(node, "visits", v.id), fetched_at, account_key, (job.id, client_id, property_id))
        for v in job.visits
    ]
    return MappedRecord("jobs", row, related=related, issues=issues)


def map_invoice(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    invoice, issues = _read(Invoice, "invoices", node)
    _enum(issues, "invoices", invoice.id, "invoice_status", "invoiceStatus", invoice.invoice_status)
    amounts = invoice.amounts
    row = _row(invoice, node, fetched_at, account_key) | {
        "invoice_number": invoice.invoice_number,
        "invoice_status": invoice.invoice_status,
        "subject": invoice.subject,
        "client_id": _ref(invoice.client),
        "total": amounts.total if amounts else None,
        "balance": amounts.invoice_balance if amounts else None,
        "issued_date": invoice.issued_date,
        "due_date": invoice.due_date,
        "job_ids": [job.id for job in invoice.jobs],
    }
    return MappedRecord("invoices", row, issues=issues)


def map_quote(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    quote, issues = _read(Quote, "quotes", node)
    _enum(issues, "quotes", quote.id, "quote_status", "quoteStatus", quote.quote_status)
    row = _row(quote, node, fetched_at, account_key) | {
        "quote_number": quote.quote_number,
        "quote_status": quote.quote_status,
        "title": quote.title,
        "client_id": _ref(quote.client),
        "property_id": _ref(quote.property),
        "total": quote.amounts.total if quote.amounts else None,
        "sent_at": quote.sent_at,
    }
    return MappedRecord("quotes", row, issues=issues)


def map_user(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    user, issues = _read(User, "users", node)
    name = user.name
    row = _row(user, node, fetched_at, account_key) | {
        "first_name": name.first if name else None,
        "last_name": name.last if name else None,
        "full_name": name.full if name else None,
        "email": user.email_address,
        "status": user.status,
        "timezone": user.timezone,
    }
    return MappedRecord("users", row, issues=issues)


MAPPERS: dict[str, Callable[..., MappedRecord]] = {
    "clients": map_client,
    "properties": map_property,
    "jobs": map_job,
    "visits": map_visit,
    "invoices": map_invoice,
    "quotes": map_quote,
    "users": map_user,
}
