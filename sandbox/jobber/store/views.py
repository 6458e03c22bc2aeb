"""Short JSON views of records, for the ``/sandbox`` endpoints (what a person sees in a list)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..models import Client, Expense, Invoice, Job, Payment, Property, Quote, Record, Request, Task, User, Visit
from .values import iso, snake

# A view's entry: a camelCase key read from the record's snake_case attribute, or a key and how to compute it.
Entry = str | tuple[str, Callable[[Any], Any]]


def _id_of(relation: str) -> Callable[[Any], str | None]:
    return lambda rec: getattr(rec, relation).id if getattr(rec, relation) else None


def _client_name(rec: Job | Invoice | Quote) -> str | None:
    return rec.client.name if rec.client else None


def _user_names(users: list[User]) -> list[str]:
    return [u.name["full"] for u in users]


VIEWS: dict[type[Record], tuple[Entry, ...]] = {
    Client: (
        "name",
        "firstName",
        "lastName",
        "companyName",
        "email",
        "phone",
        ("smsAllowed", lambda c: next((p.sms_allowed for p in c.phones if p.primary), None)),
        "isArchived",
        "updatedAt",
    ),
    Job: (
        "jobNumber",
        "title",
        "jobStatus",
        ("client", _client_name),
        ("clientId", _id_of("client")),
        "total",
        "completedAt",
        "updatedAt",
        (
            "visits",
            lambda j: [
                {"id": v.id, "isComplete": v.is_complete, "assignedUsers": _user_names(v.assigned_users)}
                for v in j.visits
            ],
        ),
    ),
    Visit: (
        "title",
        "visitStatus",
        "isComplete",
        "completedAt",
        "startAt",
        ("jobId", _id_of("job")),
        ("jobNumber", lambda v: v.job.job_number if v.job else None),
        ("assignedUsers", lambda v: _user_names(v.assigned_users)),
    ),
    Invoice: (
        "invoiceNumber",
        "invoiceStatus",
        "total",
        ("invoiceBalance", lambda i: i.balance),
        "paymentsTotal",
        ("client", _client_name),
        "jobIds",
        ("paymentIds", lambda i: [p.id for p in i.payment_records]),
        "updatedAt",
    ),
    Quote: ("quoteNumber", "quoteStatus", "title", "total", ("client", _client_name), "sentAt", "updatedAt"),
    Property: ("street", "city", "province", "postalCode", "country", ("clientId", _id_of("client"))),
    Payment: ("amount", ("invoiceId", _id_of("invoice")), "entryDate"),
    User: (("name", lambda u: u.name["full"]), ("email", lambda u: u.email_raw), "timezone"),
    Request: ("title", "updatedAt"),
    Task: ("title", "updatedAt"),
    Expense: ("title", "updatedAt"),
}


def _value(rec: Record, entry: Entry) -> tuple[str, Any]:
    if isinstance(entry, tuple):
        key, compute = entry
        return key, compute(rec)
    value = getattr(rec, snake(entry))
    return entry, iso(value) if isinstance(value, datetime) else value


def brief(rec: Record | None) -> dict[str, Any]:
    """A short JSON view of a record (for the /sandbox endpoints): its type, id and the fields of its view."""
    if rec is None:
        return {}
    out: dict[str, Any] = {"__typename": rec.typename, "id": rec.id}
    out.update(_value(rec, entry) for entry in VIEWS.get(type(rec), ()))
    return out
