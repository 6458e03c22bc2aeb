"""Pydantic models of what the documents in ``tasks/jobber/documents/`` return.

Built to survive real-world data and newer API versions:
- unknown fields are kept (``extra="allow"``), so a selection can grow before the model does;
- every field but ``id`` is optional with a default, so a null or a missing field never crashes a flow;
- statuses and other enums are plain ``str`` (``Job.job_status == "archived"``), so a value added in a
  later API version parses;
- Relay connections (``{"nodes": [...]}``) arrive as plain lists, empty when absent or null.

Field names are snake_case; the camelCase names Jobber uses are accepted as aliases, and
``model_dump(by_alias=True)`` gives them back.

They are the ONE reading of Jobber's answers: the action library returns them, and the pipelines (the
sync's mapping, the Slack notifications, the event path and the review requests) read the nodes the
documents under ``events/``, ``sync/``, ``slack/`` and ``reviews/`` fetch through them, with the shared
helpers (primary phone and email, the address on one line; Jobber's ISO 8601 times are
``tasks/jobber/times.py``'s). A pipeline that must not lose a record over one bad value reads with
:meth:`JobberModel.read`: a value of the wrong type is set aside (its field takes its default) and
described, instead of failing the whole node. The contract tests (``tests/contract``) check every field
here against the bundled schema and parse every document's selection into its model.

This module also holds the two small input models the actions take (``AddressInput``,
``LineItemInput``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, MutableMapping
from copy import deepcopy
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from tasks.jobber.times import JobberTime, parse_time
from tasks.phone import to_e164


def connection_nodes(value: Any) -> list[Any]:
    """The items of a Relay connection (``{"nodes": [...]}`` or ``{"edges": [{"node": ...}]}``), a plain list
    or null, as a list without nulls."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        if value.get("nodes") is not None:
            value = value["nodes"]
        else:
            edges = value.get("edges") or []
            value = [edge.get("node") for edge in edges if isinstance(edge, Mapping)]
    return [item for item in value if item is not None] if isinstance(value, list) else []


def _connection(value: Any) -> Any:
    """Validator of list fields: a connection or list becomes a list; anything else is left to be reported."""
    return connection_nodes(value) if value is None or isinstance(value, Mapping | list) else value


Flag = Annotated[bool, Strict()]
"""A Boolean from Jobber: only true/false (``"no"`` is a wrong value, not False)."""

_EXPECTED = {"bool": "true/false", "float": "a number", "int": "a number", "datetime": "an ISO 8601 time"}


def _problem(error: ErrorDetails) -> str:
    """One validation error as the sync reports it: ``"total is 'abc', expected a number"``."""
    path = ".".join(str(part) for part in error["loc"])
    kind = error["type"].split("_", 1)[0]
    if kind == "string":
        return f"{path} has type {type(error['input']).__name__}, expected a string"
    if kind in _EXPECTED:
        return f"{path} is {error['input']!r}, expected {_EXPECTED[kind]}"
    return f"{path}: {error['msg']}"


def _set_aside(data: MutableMapping[str, Any], error: ErrorDetails) -> bool:
    """Remove what ``error`` is about from ``data``: the wrong value, or the object that lacks a required
    field (a nested client without its id becomes null; a visit without one leaves the list)."""
    loc = error["loc"][:-1] if error["type"] == "missing" else error["loc"]
    return bool(loc) and _drop(data, loc)


def _drop(data: MutableMapping[str, Any], loc: tuple[int | str, ...]) -> bool:
    """Remove the value at ``loc`` (a validation error's location, through connections) from ``data``."""
    parent: Any = data
    for key in loc[:-1]:
        if isinstance(key, int):
            items = connection_nodes(parent)
            parent = items[key] if key < len(items) else None
        else:
            parent = parent.get(key) if isinstance(parent, Mapping) else None
    last = loc[-1]
    if isinstance(parent, MutableMapping) and last in parent:
        del parent[last]
        return True
    if isinstance(last, int):
        items = connection_nodes(parent)
        if last < len(items) and isinstance(parent, Mapping | list):
            raw = parent.get("nodes") if isinstance(parent, Mapping) else parent
            if isinstance(raw, list):
                raw[:] = [item for item in raw if item is not items[last]]
                return True
    return False


class JobberModel(BaseModel):
    """Base of every model here: tolerant of extra fields, accepts both snake_case and camelCase."""

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel, coerce_numbers_to_str=True
    )

    @classmethod
    def read(cls, node: Mapping[str, Any]) -> tuple[Self, list[str]]:
        """Validate ``node`` without failing on a value of the wrong type: each such value is set aside (its
        field takes its default: None, False or an empty list) and described (``"total is 'abc', expected
        a number"``). Only a missing ``id`` of the node itself still raises ``ValidationError``."""
        data = deepcopy(dict(node))
        problems: list[str] = []
        while True:
            try:
                return cls.model_validate(data), problems
            except ValidationError as exc:
                errors = exc.errors()
                set_aside = [_set_aside(data, error) for error in errors]  # every one, not up to the first
                if not any(set_aside):
                    raise
                problems.extend(_problem(error) for error in errors)

    @classmethod
    def of(cls, node: Mapping[str, Any] | Self) -> Self:
        """``node`` as this model, a model passing through: :meth:`read` with what does not fit set aside and
        a missing id read as ``""``, so one bad value never stops a notification or a review request."""
        return cls.read({**node, "id": str(node.get("id") or "")})[0] if isinstance(node, Mapping) else node


class Record(JobberModel):
    """A record Jobber identifies: what every model of a Jobber object shares. The field groups several
    kinds of record have in common are the subclasses below, each declared once."""

    id: str


class Account(Record):
    name: str | None = None
    created_at: JobberTime | None = None


class UserName(JobberModel):
    first: str | None = None
    last: str | None = None
    full: str | None = None


class UserEmail(JobberModel):
    raw: str | None = None


class UserPhone(JobberModel):
    friendly: str | None = None
    raw: str | None = None


class User(Record):
    """A member of the Jobber account's team."""

    name: UserName | None = None
    email: UserEmail | None = None
    phone: UserPhone | None = None
    status: str | None = None
    timezone: str | None = None
    is_account_owner: Flag | None = None
    is_account_admin: Flag | None = None
    created_at: JobberTime | None = None
    last_login_at: JobberTime | None = None

    @property
    def full_name(self) -> str | None:
        """``name.full``, or first and last joined, or None."""
        if self.name is None:
            return None
        if self.name.full:
            return self.name.full
        joined = " ".join(part for part in (self.name.first, self.name.last) if part)
        return joined or None

    @property
    def email_address(self) -> str | None:
        return self.email.raw if self.email and self.email.raw else None


class Email(JobberModel):
    id: str | None = None
    address: str | None = None
    primary: Flag | None = None
    description: str | None = None


class Phone(JobberModel):
    id: str | None = None
    number: str | None = None
    primary: Flag | None = None
    sms_allowed: Flag | None = None
    description: str | None = None


class AddressParts(BaseModel):
    """The parts of a postal address as Jobber names them: what an address read from Jobber and one sent
    to it share."""

    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Address(JobberModel, AddressParts):
    """A postal address (a property's or a client's billing address). ``street`` is Jobber's street1 and
    street2 on one line."""

    street: str | None = None

    @property
    def one_line(self) -> str:
        """The address on one line, empty parts left out: ``"1 Main St, Springfield, IL 62701"``."""
        region = " ".join(part for part in (self.province, self.postal_code) if part)
        streets = (self.street1, self.street2) if self.street1 or self.street2 else (self.street,)
        return ", ".join(part.strip() for part in (*streets, self.city, region) if part and part.strip())

    @property
    def street_and_city(self) -> str:
        """``"4821 Barton Springs Rd, Austin"``: what a notification shows."""
        street = self.street or " ".join(part for part in (self.street1, self.street2) if part)
        return ", ".join(part for part in (street, self.city) if part)

    @property
    def city_and_province(self) -> str:
        """``"Austin, TX"``."""
        return ", ".join(part for part in (self.city, self.province) if part)


class Tag(JobberModel):
    label: str | None = None


class Timestamped(Record):
    """A record with the times Jobber created and last updated it."""

    created_at: JobberTime | None = None
    updated_at: JobberTime | None = None


class Tracked(Timestamped):
    """A record with its own page in Jobber's web app (clients, jobs, invoices, quotes, requests)."""

    jobber_web_uri: str | None = None


class Client(Tracked):
    """A Jobber client (customer)."""

    name: str | None = None
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    is_company: Flag | None = None
    is_archived: Flag | None = None
    is_lead: Flag | None = None
    emails: Annotated[list[Email], BeforeValidator(_connection)] = Field(default_factory=list)
    phones: Annotated[list[Phone], BeforeValidator(_connection)] = Field(default_factory=list)
    billing_address: Address | None = None
    tags: Annotated[list[Tag], BeforeValidator(_connection)] = Field(default_factory=list)
    client_properties: Annotated[list[Property], BeforeValidator(_connection)] = Field(default_factory=list)

    @property
    def tag_labels(self) -> list[str]:
        return [tag.label for tag in self.tags if tag.label]

    @property
    def primary_email(self) -> str | None:
        """The email marked primary, else the first one with an address (not blank), else None."""
        usable = [e for e in self.emails if e.address and e.address.strip()]
        return next((e for e in usable if e.primary), usable[0] if usable else Email()).address

    @property
    def primary_phone(self) -> str | None:
        """The phone number marked primary, else the first one, else None."""
        entry = self.primary_phone_entry
        return entry.number if entry else None

    @property
    def primary_phone_entry(self) -> Phone | None:
        """The phone marked primary, else the first one with a number, else None."""
        usable = [p for p in self.phones if p.number]
        return next((p for p in usable if p.primary), usable[0] if usable else None)

    def texting_phone(self, region: str = "US") -> Phone | None:
        """The phone to text: SMS allowed, then a valid number in ``region``, then primary; None if no number."""
        usable = [p for p in self.phones if p.number and p.number.strip()]
        return min(usable, default=None, key=lambda p: (
            p.sms_allowed is not True, to_e164(p.number or "", region) is None, not p.primary))  # fmt: skip

    @property
    def display_name(self) -> str:
        """``name`` as Jobber shows it, falling back to company or first/last name."""
        joined = " ".join(part for part in (self.first_name, self.last_name) if part)
        return self.name or self.company_name or joined or self.id


class Property(Record):
    """A property (service address) of a client."""

    name: str | None = None
    address: Address | None = None
    client: Client | None = None


class LineItem(JobberModel):
    """A line item of a job, quote, invoice or visit."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    quantity: float | None = None
    unit_price: float | None = None
    total_price: float | None = None
    category: str | None = None
    taxable: Flag | None = None


class JobRef(Record):
    """A job as it appears nested inside a visit, invoice or expense."""

    job_number: int | None = None
    title: str | None = None
    job_status: str | None = None


class Itemized(Record):
    """A record with line items (a job, an invoice, a quote)."""

    line_items: Annotated[list[LineItem], BeforeValidator(_connection)] = Field(default_factory=list)


class OnProperty(Record):
    """A record for a client, at one of their properties (jobs, visits, quotes, tasks, requests)."""

    client: Client | None = None
    property: Property | None = None


class Scheduled(OnProperty):
    """Work on the schedule (a job, a visit, a task): what to do, and when."""

    title: str | None = None
    instructions: str | None = None
    start_at: JobberTime | None = None
    end_at: JobberTime | None = None


class Appointment(Scheduled):
    """A slot on the schedule with the team members assigned to it (a visit, a task)."""

    is_complete: Flag | None = None
    all_day: Flag | None = None
    assigned_users: Annotated[list[User], BeforeValidator(_connection)] = Field(default_factory=list)


class Visit(Appointment):
    """A visit (one scheduled appointment of a job) with the technicians assigned to it."""

    visit_status: str | None = None
    completed_at: JobberTime | None = None
    created_at: JobberTime | None = None
    job: Job | None = None

    # `property` is a field name of these records (OnProperty), hence builtins.property.
    @builtins.property
    def technician_names(self) -> list[str]:
        """Full names of the assigned team members, in Jobber's order."""
        return [name for name in (user.full_name for user in self.assigned_users) if name]


class Job(Itemized, Tracked, Scheduled):
    """A Jobber job. A closed job has ``job_status == "archived"``."""

    job_number: int | None = None
    job_status: str | None = None
    job_type: str | None = None
    completed_at: JobberTime | None = None
    total: float | None = None
    allow_review_request: Flag | None = None
    visits: Annotated[list[Visit], BeforeValidator(_connection)] = Field(default_factory=list)

    @builtins.property  # `property` is a field name of OnProperty
    def is_closed(self) -> bool:
        return self.job_status == "archived"

    @builtins.property
    def team(self) -> list[str]:
        """Full names of the people assigned to the job's visits, each once, in Jobber's order."""
        return list(dict.fromkeys(name for visit in self.visits for name in visit.technician_names))


class QuoteAmounts(JobberModel):
    """A quote's money; an invoice's has these and what was paid."""

    total: float | None = None
    subtotal: float | None = None
    tax_amount: float | None = None
    discount_amount: float | None = None
    deposit_amount: float | None = None


class InvoiceAmounts(QuoteAmounts):
    payments_total: float | None = None
    tips_total: float | None = None
    invoice_balance: float | None = None


class Invoice(Itemized, Tracked):
    """A Jobber invoice. Money is in ``amounts`` (the top-level ``total`` is deprecated)."""

    invoice_number: str | None = None
    invoice_status: str | None = None
    subject: str | None = None
    message: str | None = None
    issued_date: JobberTime | None = None
    due_date: JobberTime | None = None
    received_date: JobberTime | None = None
    allow_review_request: Flag | None = None
    amounts: InvoiceAmounts | None = None
    client: Client | None = None
    jobs: Annotated[list[Job], BeforeValidator(_connection)] = Field(default_factory=list)
    review_jobs: Annotated[list[Job], BeforeValidator(_connection)] = Field(default_factory=list)
    """The event path's alias ``reviewJobs: jobs(first: 2)``: the jobs with what a review request needs."""

    @property
    def is_paid(self) -> bool:
        return self.invoice_status == "paid"


class PaymentRecord(Record):
    """A payment; ``invoice`` is None for a deposit on a quote."""

    amount: float | None = None
    entry_date: JobberTime | None = None
    invoice: Invoice | None = None


class Quote(Itemized, OnProperty, Tracked):
    """A Jobber quote."""

    quote_number: str | None = None
    quote_status: str | None = None
    title: str | None = None
    message: str | None = None
    sent_at: JobberTime | None = None
    amounts: QuoteAmounts | None = None


class Note(Record):
    """A note (on a quote, for now)."""

    message: str | None = None
    pinned: Flag | None = None
    created_at: JobberTime | None = None
    last_edited_at: JobberTime | None = None


class Task(Appointment):
    """A Jobber task (a to-do on the schedule, not a Prefect task)."""

    is_recurring: Flag | None = None


class Expense(Timestamped):
    """An expense, possibly linked to a job."""

    title: str | None = None
    description: str | None = None
    date: JobberTime | None = None
    total: float | None = None
    linked_job: JobRef | None = None
    entered_by: User | None = None
    reimbursable_to: User | None = None


class Request(OnProperty, Tracked):
    """A request (a client's ask for work, before a quote or job)."""

    title: str | None = None
    request_status: str | None = None
    company_name: str | None = None
    contact_name: str | None = None
    email: str | None = None
    phone: str | None = None
    source: str | None = None


# -- inputs the actions take --------------------------------------------------------------------------


class AddressInput(AddressParts):
    """An address to send to Jobber (``AddressAttributes``); empty parts are left out."""

    model_config = ConfigDict(frozen=True)

    def to_graphql(self) -> dict[str, str]:
        """The ``AddressAttributes`` input object."""
        return {to_camel(k): v for k, v in self.model_dump().items() if v is not None}


class LineItemInput(BaseModel):
    """A line item to add to a job, quote or visit."""

    model_config = ConfigDict(frozen=True)

    name: str
    unit_price: float
    quantity: float = 1.0
    description: str | None = None
    taxable: Flag | None = None
    save_to_products_and_services: bool = False

    def to_graphql(self) -> dict[str, Any]:
        """The line item input object (``JobCreateLineItemAttributes`` and its siblings share these)."""
        return {to_camel(k): v for k, v in self.model_dump().items() if v is not None}


__all__ = [
    "Account",
    "Address",
    "AddressParts",
    "Appointment",
    "Flag",
    "JobberTime",
    "AddressInput",
    "Client",
    "Email",
    "Expense",
    "Invoice",
    "InvoiceAmounts",
    "Itemized",
    "Job",
    "JobRef",
    "JobberModel",
    "LineItem",
    "LineItemInput",
    "Note",
    "OnProperty",
    "PaymentRecord",
    "Phone",
    "Property",
    "Quote",
    "QuoteAmounts",
    "Record",
    "Request",
    "Scheduled",
    "Tag",
    "Task",
    "Timestamped",
    "Tracked",
    "User",
    "UserEmail",
    "UserName",
    "UserPhone",
    "Visit",
    "connection_nodes",
    "parse_time",
]
