"""Jobber nodes -> the fields a review request needs, in the shape of the Make.com guide's mapping.

job (id, number, title, status, completed_at), client (name, first name, phone as E.164 with smsAllowed,
email), property (address, time zone), technicians (first names of the users assigned to the job's
visits), invoice (total, status). Pure functions over the dicts the documents in
tasks/jobber/documents/reviews/ return; a missing or null field gives None (or an empty list), never an
exception: the template falls back ("Hi there") or eligibility skips the request with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tasks.jobber.models import Address, connection_nodes
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


def _get(node: Any, *path: str) -> Any:
    value = node
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _nodes(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in connection_nodes(value) if isinstance(v, Mapping)]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _region_for_phone(country: str | None) -> str:
    return _COUNTRY_REGIONS.get((country or "").strip().upper(), "US")


def pick_phone(client: Mapping[str, Any], *, country: str | None = None) -> tuple[str | None, str | None, bool | None]:
    """(E.164, as written, smsAllowed) of the phone to text: the primary SMS-allowed one, else any SMS-allowed
    one, else the primary one (so eligibility can say "smsAllowed is false")."""
    phones = [p for p in client.get("phones") or [] if isinstance(p, Mapping) and _text(p.get("number"))]
    if not phones:
        return None, None, None
    region = _region_for_phone(country)

    def rank(phone: Mapping[str, Any]) -> tuple[int, int, int]:
        usable = to_e164(_text(phone.get("number")) or "", region) is not None
        return (0 if phone.get("smsAllowed") is True else 1, 0 if usable else 1, 0 if phone.get("primary") else 1)

    chosen = sorted(phones, key=rank)[0]
    raw = _text(chosen.get("number"))
    return (to_e164(raw, region) if raw else None), raw, _flag(chosen.get("smsAllowed"))


def pick_email(client: Mapping[str, Any]) -> str | None:
    emails = [e for e in client.get("emails") or [] if isinstance(e, Mapping) and _text(e.get("address"))]
    if not emails:
        return None
    primary = [e for e in emails if e.get("primary")]
    address = _text((primary or emails)[0].get("address"))
    return address if address and "@" in address else None


def technician_first_names(job: Mapping[str, Any]) -> tuple[str, ...]:
    """First names of the users assigned to the job's visits, completed visits first, without repeats."""
    visits = _nodes(job.get("visits"))
    visits.sort(key=lambda v: 0 if v.get("completedAt") or v.get("isComplete") else 1)
    names: list[str] = []
    for visit in visits:
        for user in _nodes(visit.get("assignedUsers")):
            first = _text(_get(user, "name", "first")) or (_text(_get(user, "name", "full")) or "").split(" ")[0]
            if first and first not in names:
                names.append(first)
    return tuple(names)


def _client_fields(client: Any) -> dict[str, Any]:
    if not isinstance(client, Mapping):
        return {}
    name = _text(client.get("name"))
    first = _text(client.get("firstName"))
    if client.get("isCompany") and not first:
        first = None
    return {
        "client_id": _text(client.get("id")),
        "client_name": name,
        "client_first_name": first,
        "client_last_name": _text(client.get("lastName")),
        "client_archived": _flag(client.get("isArchived")),
        "client_tags": tuple(t for t in (_text(n.get("label")) for n in _nodes(client.get("tags"))) if t),
        "email": pick_email(client),
    }


def context_from_job(
    job: Mapping[str, Any], *, invoice: Mapping[str, Any] | None = None, fallback_client: Any = None
) -> ReviewContext:
    """Map a job node (the ReviewJobFields fragment), and the invoice that triggered it if any."""
    address = _get(job, "property", "address") or {}
    province = _text(_get(address, "province"))
    country = _text(_get(address, "country"))
    client = job.get("client") if isinstance(job.get("client"), Mapping) else fallback_client
    values = _client_fields(client)
    phone, raw, sms_allowed = pick_phone(client if isinstance(client, Mapping) else {}, country=country)
    one_line = Address.read(address)[0].one_line if isinstance(address, Mapping) else ""
    values.update(
        job_id=str(job.get("id")),
        job_number=_integer(job.get("jobNumber")),
        job_title=_text(job.get("title")),
        job_status=_text(job.get("jobStatus")),
        job_completed_at=_text(job.get("completedAt")),
        job_total=_number(job.get("total")),
        allow_review_request=_flag(job.get("allowReviewRequest")),
        phone=phone,
        phone_raw=raw,
        sms_allowed=sms_allowed,
        property_address=one_line or None,
        province=province,
        country=country,
        timezone=valid_zone(zone_for_region(province, country)),
        technicians=technician_first_names(job),
    )
    if invoice is not None:
        values.update(
            invoice_id=_text(invoice.get("id")),
            invoice_number=_text(invoice.get("invoiceNumber")),
            invoice_total=_number(_get(invoice, "amounts", "total")),
            invoice_status=_text(invoice.get("invoiceStatus")),
        )
        if invoice.get("allowReviewRequest") is False:
            values["allow_review_request"] = False
    return ReviewContext(**values)


def context_from_invoice(invoice: Mapping[str, Any]) -> ReviewContext:
    """Map an invoice node (ReviewInvoiceFields): its first job gives the job fields. An invoice without a
    job is keyed on the invoice ("invoice:<id>") so it still gets at most one request."""
    jobs = _nodes(invoice.get("jobs"))
    if jobs:
        return context_from_job(jobs[0], invoice=invoice, fallback_client=invoice.get("client"))
    values = _client_fields(invoice.get("client"))
    client = invoice.get("client")
    phone, raw, sms_allowed = pick_phone(client if isinstance(client, Mapping) else {})
    values.update(
        job_id=f"invoice:{invoice.get('id')}",
        phone=phone,
        phone_raw=raw,
        sms_allowed=sms_allowed,
        invoice_id=_text(invoice.get("id")),
        invoice_number=_text(invoice.get("invoiceNumber")),
        invoice_total=_number(_get(invoice, "amounts", "total")),
        invoice_status=_text(invoice.get("invoiceStatus")),
        allow_review_request=_flag(invoice.get("allowReviewRequest")),
    )
    return ReviewContext(**values)


def split_name(full: str | None) -> tuple[str | None, str | None]:
    """("John Smith") -> ("John", "Smith"); ("Cher") -> ("Cher", None)."""
    text = (full or "").strip()
    if not text:
        return None, None
    first, _, rest = text.partition(" ")
    return first, (rest.strip() or None)
