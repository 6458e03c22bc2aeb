"""Jobber nodes -> the fields a review request needs, in the shape of the Make.com guide's mapping.

job (id, number, title, status, completed_at), client (name, first name, phone as E.164 with smsAllowed,
email), property (address, time zone), technicians (first names of the users assigned to the job's
visits), invoice (total, status). Pure functions over what the documents in tasks/jobber/documents/reviews/
return, read through the models of tasks/jobber/models.py (the phone to text and the primary email are the
Client model's); a missing, null or wrong field gives None (or an empty list), never an exception: the
template falls back ("Hi there") or eligibility skips the request with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tasks.jobber.models import Client, Invoice, Job, UserName
from tasks.jobber.times import jobber_time_text
from tasks.phone import to_e164
from tasks.reviews.rules.timezones import valid_zone, zone_for_region

_COUNTRY_REGIONS = {"CANADA": "CA", "CA": "CA", "CAN": "CA"}


@dataclass(frozen=True)
class ReviewContext:
    """Everything known about one job's review request, as plain values (stored as JSON on the request)."""

    job_id: str
    job_number: int | None = None
    job_title: str | None = None
    job_status: str | None = None
    job_completed_at: str | None = None
    job_total: float | None = None
    allow_review_request: bool | None = None
    client_id: str | None = None
    client_name: str | None = None
    client_first_name: str | None = None
    client_last_name: str | None = None
    client_archived: bool | None = None
    client_tags: tuple[str, ...] = ()
    phone: str | None = None  # E.164
    phone_raw: str | None = None
    sms_allowed: bool | None = None
    email: str | None = None
    property_address: str | None = None
    province: str | None = None
    country: str | None = None
    timezone: str | None = None  # from the address; None when the address does not say
    technicians: tuple[str, ...] = ()
    invoice_id: str | None = None
    invoice_number: str | None = None
    invoice_total: float | None = None
    invoice_status: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float | None:
        """The amount compared with `minimum_total`: the invoice's when there is one, else the job's."""
        return self.invoice_total if self.invoice_total is not None else self.job_total

    @property
    def short_client_name(self) -> str:
        """ "John S." for run names and artifacts (no full surname in logs)."""
        first = self.client_first_name or (self.client_name or "").split(" ")[0]
        last = self.client_last_name or ""
        if not first:
            return "unknown client"
        return f"{first} {last[:1]}." if last else first

    def label(self) -> str:
        """ "job #1042 Water Heater Installation" """
        number = f"#{self.job_number}" if self.job_number is not None else self.job_id[:12]
        return f"job {number} {self.job_title or ''}".strip()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["client_tags"] = list(self.client_tags)
        data["technicians"] = list(self.technicians)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReviewContext:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["client_tags"] = tuple(values.get("client_tags") or ())
        values["technicians"] = tuple(values.get("technicians") or ())
        values["extra"] = dict(values.get("extra") or {})
        return cls(**values)


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _region_for_phone(country: str | None) -> str:
    return _COUNTRY_REGIONS.get((country or "").strip().upper(), "US")


def technician_first_names(job: Job) -> tuple[str, ...]:
    """First names of the users assigned to the job's visits, completed visits first, without repeats."""
    visits = sorted(job.visits, key=lambda v: 0 if v.completed_at or v.is_complete else 1)
    names: list[str] = []
    for user in (user for visit in visits for user in visit.assigned_users):
        name = user.name or UserName()
        first = _text(name.first) or (_text(name.full) or "").split(" ")[0]
        if first and first not in names:
            names.append(first)
    return tuple(names)


def _client_fields(client: Client | None, *, country: str | None = None) -> dict[str, Any]:
    """The client's name, tags and contact: the phone to text (tasks.jobber.models.Client.texting_phone, read in
    the property's country) and the primary email (when it is an address)."""
    if client is None:
        return {}
    phone = client.texting_phone(_region_for_phone(country))
    raw = _text(phone.number) if phone else None
    email = _text(client.primary_email)
    return {
        "client_id": _text(client.id),
        "client_name": _text(client.name),
        "client_first_name": _text(client.first_name),
        "client_last_name": _text(client.last_name),
        "client_archived": client.is_archived,
        "client_tags": tuple(t for t in (_text(label) for label in client.tag_labels) if t),
        "email": email if email and "@" in email else None,
        "phone": to_e164(raw, _region_for_phone(country)) if raw else None,
        "phone_raw": raw,
        "sms_allowed": phone.sms_allowed if phone else None,
    }


def _invoice_fields(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": _text(invoice.id),
        "invoice_number": _text(invoice.invoice_number),
        "invoice_total": invoice.amounts.total if invoice.amounts else None,
        "invoice_status": _text(invoice.invoice_status),
    }


def context_from_job(
    node: Mapping[str, Any] | Job, *, invoice: Invoice | None = None, fallback_client: Client | None = None
) -> ReviewContext:
    """Map a job (the ReviewJobFields fragment), and the invoice that triggered it if any."""
    job = Job.of(node)
    address = job.property.address if job.property else None
    province = _text(address.province) if address else None
    country = _text(address.country) if address else None
    values = _client_fields(job.client or fallback_client, country=country)
    values.update(
        job_id=job.id,
        job_number=job.job_number,
        job_title=_text(job.title),
        job_status=_text(job.job_status),
        job_completed_at=jobber_time_text(job.completed_at),
        job_total=job.total,
        allow_review_request=job.allow_review_request,
        property_address=(address.one_line if address else "") or None,
        province=province,
        country=country,
        timezone=valid_zone(zone_for_region(province, country)),
        technicians=technician_first_names(job),
    )
    if invoice is not None:
        values.update(_invoice_fields(invoice))
        if invoice.allow_review_request is False:
            values["allow_review_request"] = False
    return ReviewContext(**values)


def context_from_invoice(node: Mapping[str, Any] | Invoice) -> ReviewContext:
    """Map an invoice (ReviewInvoiceFields): its first job gives the job fields. An invoice without a job is
    keyed on the invoice ("invoice:<id>") so it still gets at most one request."""
    invoice = Invoice.of(node)
    if invoice.jobs:
        return context_from_job(invoice.jobs[0], invoice=invoice, fallback_client=invoice.client)
    values = _client_fields(invoice.client)
    values.update(
        job_id=f"invoice:{invoice.id}",
        **_invoice_fields(invoice),
        allow_review_request=invoice.allow_review_request,
    )
    return ReviewContext(**values)


def split_name(full: str | None) -> tuple[str | None, str | None]:
    """("John Smith") -> ("John", "Smith"); ("Cher") -> ("Cher", None)."""
    text = (full or "").strip()
    if not text:
        return None, None
    first, _, rest = text.partition(" ")
    return first, (rest.strip() or None)
