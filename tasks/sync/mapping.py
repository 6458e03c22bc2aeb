"""Jobber nodes -> database rows. Pure functions, tolerant of what real data does.

A node with an unexpected null, an enum value this version of the project does not know, or a field
whose type changed is still stored (with its raw JSON); the problem is returned as a `RecordIssue`
so the sync run can report it. Nothing here raises on bad data except a node without an id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

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


class _Reader:
    """Reads typed values out of a node, recording what did not fit instead of raising."""

    def __init__(self, resource: str, node: Mapping[str, Any]) -> None:
        self.resource = resource
        self.node = node
        self.id = str(node.get("id")) if node.get("id") is not None else None
        self.issues: list[RecordIssue] = []

    def issue(self, problem: str) -> None:
        self.issues.append(RecordIssue(self.resource, self.id, problem))

    def get(self, *path: str) -> Any:
        value: Any = self.node
        for key in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    def text(self, *path: str, required: bool = False) -> str | None:
        value = self.get(*path)
        if value is None:
            if required:
                self.issue(f"{'.'.join(path)} is null")
            return None
        if isinstance(value, Mapping | list):
            self.issue(f"{'.'.join(path)} has type {type(value).__name__}, expected a string")
            return None
        return str(value)

    def number(self, *path: str) -> float | None:
        value = self.get(*path)
        if value is None:
            return None
        if isinstance(value, bool):
            self.issue(f"{'.'.join(path)} is a boolean, expected a number")
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            self.issue(f"{'.'.join(path)} is {value!r}, expected a number")
            return None

    def integer(self, *path: str) -> int | None:
        number = self.number(*path)
        return int(number) if number is not None else None

    def flag(self, *path: str) -> bool | None:
        value = self.get(*path)
        if value is None or isinstance(value, bool):
            return value
        self.issue(f"{'.'.join(path)} is {value!r}, expected true/false")
        return None

    def when(self, *path: str, required: bool = False) -> datetime | None:
        value = self.get(*path)
        if value is None:
            if required:
                self.issue(f"{'.'.join(path)} is null")
            return None
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.issue(f"{'.'.join(path)} is {value!r}, expected an ISO 8601 time")
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def enum(self, column: str, *path: str) -> str | None:
        value = self.text(*path)
        known = known_enum_values(ENUMS[f"{self.resource}.{column}"])
        if value is not None and known and value not in known:
            self.issue(f"{'.'.join(path)} has the unknown value {value!r} (stored as is)")
        return value

    def ref(self, *path: str) -> str | None:
        return self.text(*path, "id")

    def nodes(self, *path: str) -> list[Mapping[str, Any]]:
        value = self.get(*path)
        if isinstance(value, Mapping):
            value = value.get("nodes")
        if value is None:
            return []
        if not isinstance(value, list):
            self.issue(f"{'.'.join(path)} is not a list")
            return []
        return [v for v in value if isinstance(v, Mapping)]

    def base(self, fetched_at: datetime, account_key: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_key": account_key,
            "jobber_created_at": self.when("createdAt"),
            "jobber_updated_at": self.when("updatedAt"),
            "raw": dict(self.node),
            "fetched_at": fetched_at,
        }


def _require_id(resource: str, node: Mapping[str, Any]) -> _Reader:
    reader = _Reader(resource, node)
    if not reader.id:
        raise ValueError(f"a {resource} node without an id cannot be stored")
    return reader


def map_property(
    node: Mapping[str, Any], *, fetched_at: datetime, account_key: str, client_id: str | None = None
) -> MappedRecord:
    r = _require_id("properties", node)
    row = r.base(fetched_at, account_key) | {
        "client_id": r.ref("client") or client_id,
        "street": r.text("address", "street"),
        "city": r.text("address", "city"),
        "province": r.text("address", "province"),
        "postal_code": r.text("address", "postalCode"),
        "country": r.text("address", "country"),
    }
    return MappedRecord("properties", row, issues=r.issues)


def map_client(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    r = _require_id("clients", node)
    emails = [
        {
            "client_id": r.id,
            "position": i,
            "address": str(e.get("address") or ""),
            "is_primary": bool(e.get("primary")),
            "description": e.get("description"),
        }
        for i, e in enumerate(r.get("emails") or [])
        if isinstance(e, Mapping) and e.get("address")
    ]
    phones = [
        {
            "client_id": r.id,
            "position": i,
            "number": str(p.get("number") or ""),
            "is_primary": bool(p.get("primary")),
            "sms_allowed": p.get("smsAllowed") if isinstance(p.get("smsAllowed"), bool) else None,
            "description": p.get("description"),
        }
        for i, p in enumerate(r.get("phones") or [])
        if isinstance(p, Mapping) and p.get("number")
    ]
    primary_email = next((e for e in emails if e["is_primary"]), emails[0] if emails else None)
    primary_phone = next((p for p in phones if p["is_primary"]), phones[0] if phones else None)
    row = r.base(fetched_at, account_key) | {
        "name": r.text("name", required=True),
        "first_name": r.text("firstName"),
        "last_name": r.text("lastName"),
        "company_name": r.text("companyName"),
        "is_company": r.flag("isCompany"),
        "is_archived": r.flag("isArchived"),
        "primary_email": primary_email["address"] if primary_email else None,
        "primary_phone": primary_phone["number"] if primary_phone else None,
        "sms_allowed": primary_phone["sms_allowed"] if primary_phone else None,
        "tags": [str(t.get("label")) for t in r.nodes("tags") if t.get("label")],
    }
    related = [
        map_property(p, fetched_at=fetched_at, account_key=account_key, client_id=r.id)
        for p in r.nodes("clientProperties")
        if p.get("id")
    ]
    return MappedRecord("clients", row, emails=emails, phones=phones, related=related, issues=r.issues)


def map_visit(
    node: Mapping[str, Any],
    *,
    fetched_at: datetime,
    account_key: str,
    job_id: str | None = None,
    client_id: str | None = None,
    property_id: str | None = None,
) -> MappedRecord:
    r = _require_id("visits", node)
    assignments = [
        {"visit_id": r.id, "user_id": str(u["id"]), "user_name": (u.get("name") or {}).get("full")}
        for u in r.nodes("assignedUsers")
        if u.get("id")
    ]
    row = r.base(fetched_at, account_key) | {
        "job_id": r.ref("job") or job_id,
        "client_id": r.ref("client") or client_id,
        "property_id": r.ref("property") or property_id,
        "title": r.text("title"),
        "visit_status": r.enum("visit_status", "visitStatus"),
        "is_complete": r.flag("isComplete"),
        "completed_at": r.when("completedAt"),
        "start_at": r.when("startAt"),
        "end_at": r.when("endAt"),
    }
    return MappedRecord("visits", row, assignments=assignments, issues=r.issues)


def map_job(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    r = _require_id("jobs", node)
    client_id = r.ref("client")
    property_id = r.ref("property")
    row = r.base(fetched_at, account_key) | {
        "job_number": r.integer("jobNumber"),
        "title": r.text("title"),
        "job_status": r.enum("job_status", "jobStatus"),
        "client_id": client_id,
        "property_id": property_id,
        "completed_at": r.when("completedAt"),
        "total": r.number("total"),
    }
    related: list[MappedRecord] = []
    prop = r.get("property")
    if isinstance(prop, Mapping) and prop.get("id"):
        related.append(map_property(prop, fetched_at=fetched_at, account_key=account_key, client_id=client_id))
    related += [
        map_visit(
            v, fetched_at=fetched_at, account_key=account_key, job_id=r.id, client_id=client_id, property_id=property_id
        )
        for v in r.nodes("visits")
        if v.get("id")
    ]
    return MappedRecord("jobs", row, related=related, issues=r.issues)


def map_invoice(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    r = _require_id("invoices", node)
    row = r.base(fetched_at, account_key) | {
        "invoice_number": r.text("invoiceNumber"),
        "invoice_status": r.enum("invoice_status", "invoiceStatus"),
        "subject": r.text("subject"),
        "client_id": r.ref("client"),
        "total": r.number("amounts", "total"),
        "balance": r.number("amounts", "invoiceBalance"),
        "issued_date": r.when("issuedDate"),
        "due_date": r.when("dueDate"),
        "job_ids": [str(j["id"]) for j in r.nodes("jobs") if j.get("id")],
    }
    return MappedRecord("invoices", row, issues=r.issues)


def map_quote(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    r = _require_id("quotes", node)
    row = r.base(fetched_at, account_key) | {
        "quote_number": r.text("quoteNumber"),
        "quote_status": r.enum("quote_status", "quoteStatus"),
        "title": r.text("title"),
        "client_id": r.ref("client"),
        "property_id": r.ref("property"),
        "total": r.number("amounts", "total"),
        "sent_at": r.when("sentAt"),
    }
    return MappedRecord("quotes", row, issues=r.issues)


def map_user(node: Mapping[str, Any], *, fetched_at: datetime, account_key: str) -> MappedRecord:
    r = _require_id("users", node)
    row = r.base(fetched_at, account_key) | {
        "first_name": r.text("name", "first"),
        "last_name": r.text("name", "last"),
        "full_name": r.text("name", "full"),
        "email": r.text("email", "raw"),
        "status": r.text("status"),
        "timezone": r.text("timezone"),
    }
    return MappedRecord("users", row, issues=r.issues)


MAPPERS: dict[str, Callable[..., MappedRecord]] = {
    "clients": map_client,
    "properties": map_property,
    "jobs": map_job,
    "visits": map_visit,
    "invoices": map_invoice,
    "quotes": map_quote,
    "users": map_user,
}
