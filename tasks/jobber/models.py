"""Pydantic models of what the documents in ``tasks/jobber/documents/`` return.

Built to survive real-world data and newer API versions:
- unknown fields are kept (``extra="allow"``), so a selection can grow before the model does;
- every field but ``id`` is optional with a default, so a null or a missing field never crashes a flow;
- statuses and other enums are plain ``str`` (``Job.job_status == "archived"``), so a value added in a
  later API version parses;
- Relay connections (``{"nodes": [...]}``) arrive as plain lists, empty when absent or null.

Field names are snake_case; the camelCase names Jobber uses are accepted as aliases, and
``model_dump(by_alias=True)`` gives them back.

This module also holds the two small input models the actions take (``AddressInput``,
``LineItemInput``).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


def _nodes(value: Any) -> Any:
    """Accept a Relay connection, an edges list, a plain list or null, and return a list."""
    if value is None:
        return []
    if isinstance(value, dict):
        if value.get("nodes") is not None:
            return [node for node in value["nodes"] if node is not None]
        edges = value.get("edges") or []
        return [edge.get("node") for edge in edges if isinstance(edge, dict) and edge.get("node") is not None]
    return value


def _list(value: Any) -> Any:
    return [] if value is None else value


class JobberModel(BaseModel):
    """Base of every model here: tolerant of extra fields, accepts both snake_case and camelCase."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)


class UserName(JobberModel):
    first: str | None = None
    last: str | None = None
    full: str | None = None


class UserEmail(JobberModel):
    raw: str | None = None


class UserPhone(JobberModel):
    friendly: str | None = None
    raw: str | None = None


class User(JobberModel):
    """A member of the Jobber account's team."""

    id: str
    name: UserName | None = None
    email: UserEmail | None = None
    phone: UserPhone | None = None
    status: str | None = None
    timezone: str | None = None
    is_account_owner: bool | None = None
    is_account_admin: bool | None = None
    created_at: datetime | None = None
    last_login_at: datetime | None = None

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
    primary: bool = False
    description: str | None = None


class Phone(JobberModel):
    id: str | None = None
    number: str | None = None
    primary: bool = False
    sms_allowed: bool | None = None
    description: str | None = None


class Address(JobberModel):
    """A postal address (a property's or a client's billing address)."""

    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @property
    def one_line(self) -> str:
        """The address on one line, empty parts left out: ``"1 Main St, Springfield, IL 62701"``."""
        region = " ".join(part for part in (self.province, self.postal_code) if part)
        parts = (self.street1, self.street2, self.city, region, self.country)
        return ", ".join(part for part in parts if part)


class Client(JobberModel):
    """A Jobber client (customer)."""

    id: str
    name: str | None = None
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    is_company: bool | None = None
    is_archived: bool | None = None
    is_lead: bool | None = None
    emails: Annotated[list[Email], BeforeValidator(_list)] = Field(default_factory=list)
    phones: Annotated[list[Phone], BeforeValidator(_list)] = Field(default_factory=list)
    billing_address: Address | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    jobber_web_uri: str | None = None

    @property
    def primary_email(self) -> str | None:
        """The email marked primary, else the first one with an address, else None."""
        usable = [e for e in self.emails if e.address]
        primary = [e for e in usable if e.primary]
        return (primary or usable or [Email()])[0].address

    @property
    def primary_phone(self) -> str | None:
        """The phone number marked primary, else the first one, else None."""
        usable = [p for p in self.phones if p.number]
        primary = [p for p in usable if p.primary]
        return (primary or usable or [Phone()])[0].number

    @property
    def sms_phone(self) -> str | None:
        """The number to text: primary among those that allow SMS, else the first that allows it."""
        textable = [p for p in self.phones if p.number and p.sms_allowed]
        primary = [p for p in textable if p.primary]
        return (primary or textable or [Phone()])[0].number

    @property
    def display_name(self) -> str:
        """``name`` as Jobber shows it, falling back to company or first/last name."""
        joined = " ".join(part for part in (self.first_name, self.last_name) if part)
        return self.name or self.company_name or joined or self.id


class Property(JobberModel):
    """A property (service address) of a client."""

    id: str
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
    taxable: bool | None = None


class JobRef(JobberModel):
    """A job as it appears nested inside a visit, invoice or expense."""

    id: str
    job_number: int | None = None
    title: str | None = None
    job_status: str | None = None


class Visit(JobberModel):
    """A visit (one scheduled appointment of a job) with the technicians assigned to it."""

    id: str
    title: str | None = None
    instructions: str | None = None
    visit_status: str | None = None
    is_complete: bool | None = None
    completed_at: datetime | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    all_day: bool | None = None
    created_at: datetime | None = None
    assigned_users: Annotated[list[User], BeforeValidator(_nodes)] = Field(default_factory=list)
    job: JobRef | None = None
    client: Client | None = None
    property: Property | None = None

    # `property` is a field name in this class body, hence builtins.property.
    @builtins.property
    def technician_names(self) -> list[str]:
        """Full names of the assigned team members, in Jobber's order."""
        return [name for name in (user.full_name for user in self.assigned_users) if name]


class Job(JobberModel):
    """A Jobber job. A closed job has ``job_status == "archived"``."""

    id: str
    job_number: int | None = None
    title: str | None = None
    job_status: str | None = None
    job_type: str | None = None
    instructions: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    completed_at: datetime | None = None
    total: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    jobber_web_uri: str | None = None
    client: Client | None = None
    property: Property | None = None
    visits: Annotated[list[Visit], BeforeValidator(_nodes)] = Field(default_factory=list)
    line_items: Annotated[list[LineItem], BeforeValidator(_nodes)] = Field(default_factory=list)

    @builtins.property  # `property` is a field name in this class body
    def is_closed(self) -> bool:
        return self.job_status == "archived"


class InvoiceAmounts(JobberModel):
    total: float | None = None
    subtotal: float | None = None
    tax_amount: float | None = None
    discount_amount: float | None = None
    deposit_amount: float | None = None
    payments_total: float | None = None
    tips_total: float | None = None
    invoice_balance: float | None = None


class Invoice(JobberModel):
    """A Jobber invoice. Money is in ``amounts`` (the top-level ``total`` is deprecated)."""

    id: str
    invoice_number: str | None = None
    invoice_status: str | None = None
    subject: str | None = None
    message: str | None = None
    issued_date: datetime | None = None
    due_date: datetime | None = None
    received_date: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    jobber_web_uri: str | None = None
    amounts: InvoiceAmounts | None = None
    client: Client | None = None
    jobs: Annotated[list[JobRef], BeforeValidator(_nodes)] = Field(default_factory=list)
    line_items: Annotated[list[LineItem], BeforeValidator(_nodes)] = Field(default_factory=list)

    @property
    def is_paid(self) -> bool:
        return self.invoice_status == "paid"


class QuoteAmounts(JobberModel):
    total: float | None = None
    subtotal: float | None = None
    tax_amount: float | None = None
    discount_amount: float | None = None
    deposit_amount: float | None = None


class Quote(JobberModel):
    """A Jobber quote."""

    id: str
    quote_number: str | None = None
    quote_status: str | None = None
    title: str | None = None
    message: str | None = None
    sent_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    jobber_web_uri: str | None = None
    amounts: QuoteAmounts | None = None
    client: Client | None = None
    property: Property | None = None
    line_items: Annotated[list[LineItem], BeforeValidator(_nodes)] = Field(default_factory=list)


class Note(JobberModel):
    """A note (on a quote, for now)."""

    id: str
    message: str | None = None
    pinned: bool | None = None
    created_at: datetime | None = None
    last_edited_at: datetime | None = None


class Task(JobberModel):
    """A Jobber task (a to-do on the schedule, not a Prefect task)."""

    id: str
    title: str | None = None
    instructions: str | None = None
    is_complete: bool | None = None
    is_recurring: bool | None = None
    all_day: bool | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    assigned_users: Annotated[list[User], BeforeValidator(_nodes)] = Field(default_factory=list)
    client: Client | None = None
    property: Property | None = None


class Expense(JobberModel):
    """An expense, possibly linked to a job."""

    id: str
    title: str | None = None
    description: str | None = None
    date: datetime | None = None
    total: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    linked_job: JobRef | None = None
    entered_by: User | None = None
    reimbursable_to: User | None = None


class Request(JobberModel):
    """A request (a client's ask for work, before a quote or job)."""

    id: str
    title: str | None = None
    request_status: str | None = None
    company_name: str | None = None
    contact_name: str | None = None
    email: str | None = None
    phone: str | None = None
    source: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    jobber_web_uri: str | None = None
    client: Client | None = None
    property: Property | None = None


# -- inputs the actions take --------------------------------------------------------------------------


class AddressInput(BaseModel):
    """An address to send to Jobber (``AddressAttributes``); empty parts are left out."""

    model_config = ConfigDict(frozen=True)

    street1: str | None = None
    street2: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None

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
    taxable: bool | None = None
    save_to_products_and_services: bool = False

    def to_graphql(self) -> dict[str, Any]:
        """The line item input object (``JobCreateLineItemAttributes`` and its siblings share these)."""
        return {to_camel(k): v for k, v in self.model_dump().items() if v is not None}


__all__ = [
    "Address",
    "AddressInput",
    "Client",
    "Email",
    "Expense",
    "Invoice",
    "InvoiceAmounts",
    "Job",
    "JobRef",
    "JobberModel",
    "LineItem",
    "LineItemInput",
    "Note",
    "Phone",
    "Property",
    "Quote",
    "QuoteAmounts",
    "Request",
    "Task",
    "User",
    "UserEmail",
    "UserName",
    "UserPhone",
    "Visit",
]
