"""In-memory records of the sandbox account.

Attribute names are the snake_case of Jobber's GraphQL field names (``jobStatus`` -> ``job_status``),
so the GraphQL layer resolves most fields generically. ``property_`` stands for ``property``.
Relations are direct object references (the store owns every record in per-type dicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from .ids import encode_id

WEB_BASE = "https://secure.getjobber.com"


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class Record:
    TYPENAME: ClassVar[str] = "Record"
    GID_TYPE: ClassVar[str] = ""

    pk: int

    @property
    def id(self) -> str:
        return encode_id(self.GID_TYPE or self.TYPENAME, self.pk)

    @property
    def typename(self) -> str:
        return self.TYPENAME


@dataclass(eq=False)
class Stamped(Record):
    """A record Jobber stamps when it is created and whenever it changes."""

    created_at: datetime = field(default_factory=now_utc)
    updated_at: datetime = field(default_factory=now_utc)


@dataclass(eq=False)
class Account(Record):
    TYPENAME: ClassVar[str] = "Account"
    name: str = ""
    created_at: datetime = field(default_factory=now_utc)
    country_code: str = "US"
    phone: str | None = None


@dataclass(eq=False)
class User(Stamped):
    TYPENAME: ClassVar[str] = "User"
    first: str = ""
    last: str = ""
    email_raw: str = ""
    status: str = "ACTIVATED"
    timezone: str = "America/Chicago"
    is_account_owner: bool = False
    is_account_admin: bool = False
    uuid: str = ""

    @property
    def name(self) -> dict[str, str]:
        return {"first": self.first, "last": self.last, "full": f"{self.first} {self.last}".strip()}

    @property
    def email(self) -> dict[str, Any]:
        return {"raw": self.email_raw, "isValid": "@" in self.email_raw}


@dataclass(eq=False)
class Tag(Record):
    TYPENAME: ClassVar[str] = "Tag"
    label: str = ""


@dataclass(eq=False)
class Email(Record):
    TYPENAME: ClassVar[str] = "Email"
    address: str = ""
    primary: bool = True
    description: str = "MAIN"
    client: Client | None = None


@dataclass(eq=False)
class Phone(Record):
    TYPENAME: ClassVar[str] = "ClientPhoneNumber"
    number: str = ""
    primary: bool = True
    sms_allowed: bool = True
    description: str = "MOBILE"
    client: Client | None = None

    @property
    def friendly(self) -> str:
        return self.number

    @property
    def normalized_phone_number(self) -> str:
        digits = "".join(ch for ch in self.number if ch.isdigit())
        if len(digits) == 10:
            digits = "1" + digits
        return "+" + digits


@dataclass(eq=False)
class Client(Stamped):
    TYPENAME: ClassVar[str] = "Client"
    first_name: str = ""
    last_name: str = ""
    company_name: str | None = None
    is_company: bool = False
    is_archived: bool = False
    title: str | None = None
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    billing_address: dict[str, str] | None = None
    tags: list[Tag] = field(default_factory=list)
    client_properties: list[Property] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    receives_review_requests: bool = True
    receives_reminders: bool = True
    receives_follow_ups: bool = True
    receives_quote_follow_ups: bool = True
    receives_invoice_follow_ups: bool = True
    lead_source: str | None = None

    @property
    def name(self) -> str:
        if self.is_company and self.company_name:
            return self.company_name
        return f"{self.first_name} {self.last_name}".strip() or (self.company_name or "")

    @property
    def secondary_name(self) -> str | None:
        if self.is_company and self.company_name:
            return f"{self.first_name} {self.last_name}".strip() or None
        return None

    @property
    def email(self) -> str | None:
        primary = next((e for e in self.emails if e.primary), self.emails[0] if self.emails else None)
        return primary.address if primary else None

    @property
    def phone(self) -> str | None:
        primary = next((p for p in self.phones if p.primary), self.phones[0] if self.phones else None)
        return primary.number if primary else None

    @property
    def jobber_web_uri(self) -> str:
        return f"{WEB_BASE}/clients/{self.pk}"

    @property
    def billing_address_present(self) -> bool:
        return self.billing_address is not None

    @property
    def is_archivable(self) -> bool:
        return not self.is_archived

    @property
    def balance(self) -> float:
        return round(sum(i.balance for i in self.invoices if i.invoice_status != "draft"), 2)


@dataclass(eq=False)
class Property(Stamped):
    TYPENAME: ClassVar[str] = "Property"
    client: Client | None = None
    name: str | None = None
    street1: str = ""
    street2: str = ""
    city: str = ""
    province: str = ""
    postal_code: str = ""
    country: str = ""
    timezone: str = "America/Chicago"
    latitude: float = 0.0
    longitude: float = 0.0
    jobs: list[Job] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    @property
    def street(self) -> str:
        return ", ".join(s for s in (self.street1, self.street2) if s)

    @property
    def address(self) -> dict[str, Any]:
        return {
            "__typename": "PropertyAddress",
            "id": encode_id("PropertyAddress", self.pk),
            "street": self.street,
            "street1": self.street1,
            "street2": self.street2,
            "city": self.city,
            "province": self.province,
            "postalCode": self.postal_code,
            "country": self.country,
            "coordinates": {"latitude": self.latitude, "longitude": self.longitude},
        }

    @property
    def jobber_web_uri(self) -> str:
        return f"{WEB_BASE}/properties/{self.pk}"

    @property
    def is_billing_address(self) -> bool:
        return False


@dataclass(eq=False)
class LineItem(Stamped):
    TYPENAME: ClassVar[str] = "JobLineItem"
    name: str = ""
    description: str = ""
    quantity: float = 1.0
    unit_price: float = 0.0
    taxable: bool = True
    category: str = "SERVICE"

    @property
    def total_price(self) -> float:
        return round(self.quantity * self.unit_price, 2)

    @property
    def qty(self) -> float:
        return self.quantity

    @property
    def cost(self) -> float:
        return self.total_price


@dataclass(eq=False)
class QuoteLineItem(LineItem):
    TYPENAME: ClassVar[str] = "QuoteLineItem"
    optional: bool = False
    recommended: bool | None = None
    text_only: bool = False
    unit_cost: float | None = None
    sort_order: int | None = None


@dataclass(eq=False)
class InvoiceLineItem(LineItem):
    TYPENAME: ClassVar[str] = "InvoiceLineItem"
    date: datetime | None = None

    @property
    def tax_rate(self) -> dict[str, Any]:
        return {"__typename": "TaxRate", "id": encode_id("TaxRate", 1), "label": "Sales tax", "tax": 8.25}


@dataclass(eq=False)
class Job(Stamped):
    TYPENAME: ClassVar[str] = "Job"
    job_number: int = 0
    title: str | None = None
    job_status: str = "active"
    client: Client | None = None
    property_: Property | None = None
    visits: list[Visit] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    expenses: list[Expense] = field(default_factory=list)
    line_items: list[LineItem] = field(default_factory=list)
    instructions: str | None = None
    total: float = 0.0
    job_type: str = "ONE_OFF"
    billing_type: str = "FIXED_PRICE"
    allow_review_request: bool = True
    salesperson: User | None = None
    completed_at: datetime | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    @property
    def jobber_web_uri(self) -> str:
        return f"{WEB_BASE}/work_orders/{self.pk}"

    @property
    def default_visit_title(self) -> str:
        return self.title or "Visit"

    @property
    def invoiced_total(self) -> float:
        return round(sum(i.total for i in self.invoices), 2)

    @property
    def uninvoiced_total(self) -> float:
        return round(max(self.total - self.invoiced_total, 0.0), 2)


@dataclass(eq=False)
class Visit(Stamped):
    TYPENAME: ClassVar[str] = "Visit"
    job: Job | None = None
    title: str | None = None
    instructions: str | None = None
    assigned_users: list[User] = field(default_factory=list)
    line_items: list[LineItem] = field(default_factory=list)
    completed_at: datetime | None = None
    completed_by: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    all_day: bool = False

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None

    @property
    def client(self) -> Client | None:
        return self.job.client if self.job else None

    @property
    def property_(self) -> Property | None:
        return self.job.property_ if self.job else None

    @property
    def visit_status(self) -> str:
        if self.completed_at is not None:
            return "COMPLETED"
        if self.start_at is None:
            return "UNSCHEDULED"
        now = now_utc()
        end = self.end_at or self.start_at
        if end < now:
            return "LATE"
        if self.start_at.date() == now.date():
            return "TODAY"
        if self.start_at <= now <= end:
            return "ACTIVE"
        return "UPCOMING"

    @property
    def duration(self) -> int | None:
        if self.start_at and self.end_at:
            return int((self.end_at - self.start_at).total_seconds() // 60)
        return None


@dataclass(eq=False)
class Payment(Record):
    TYPENAME: ClassVar[str] = "CreditCardPaymentRecord"
    GID_TYPE: ClassVar[str] = "PaymentRecord"
    kind: str = "CreditCardPaymentRecord"
    invoice: Invoice | None = None
    amount: float = 0.0
    details: str | None = None
    entry_date: datetime = field(default_factory=now_utc)
    created_at: datetime = field(default_factory=now_utc)

    @property
    def typename(self) -> str:
        return self.kind

    @property
    def client(self) -> Client | None:
        return self.invoice.client if self.invoice else None

    @property
    def raw_amount(self) -> float:
        return self.amount

    @property
    def sent_at(self) -> datetime:
        return self.entry_date

    @property
    def adjustment_type(self) -> str:
        return "PAYMENT"


@dataclass(eq=False)
class Invoice(Stamped):
    TYPENAME: ClassVar[str] = "Invoice"
    invoice_number: str = ""
    invoice_status: str = "draft"
    subject: str = "For Services Rendered"
    message: str | None = None
    client: Client | None = None
    property_: Property | None = None
    jobs: list[Job] = field(default_factory=list)
    payment_records: list[Payment] = field(default_factory=list)
    line_items: list[InvoiceLineItem] = field(default_factory=list)
    subtotal: float = 0.0
    tax_amount: float = 0.0
    discount_amount: float = 0.0
    issued_date: datetime | None = None
    due_date: datetime | None = None
    received_date: datetime | None = None
    allow_review_request: bool = True

    @property
    def total(self) -> float:
        return round(self.subtotal + self.tax_amount - self.discount_amount, 2)

    @property
    def payments_total(self) -> float:
        return round(sum(p.amount for p in self.payment_records), 2)

    @property
    def balance(self) -> float:
        if self.invoice_status == "bad_debt":
            return 0.0
        return round(max(self.total - self.payments_total, 0.0), 2)

    @property
    def amounts(self) -> dict[str, float]:
        return {
            "total": self.total,
            "subtotal": self.subtotal,
            "invoiceBalance": self.balance,
            "paymentsTotal": self.payments_total,
            "taxAmount": self.tax_amount,
            "discountAmount": self.discount_amount,
            "depositAmount": 0.0,
            "legacyDiscountAmount": 0.0,
            "nonTaxAmount": 0.0,
            "tipsTotal": 0.0,
        }

    @property
    def properties(self) -> list[Property]:
        return [self.property_] if self.property_ else []

    @property
    def visits(self) -> list[Visit]:
        return [v for j in self.jobs for v in j.visits]

    @property
    def jobber_web_uri(self) -> str:
        return f"{WEB_BASE}/invoices/{self.pk}"

    @property
    def job_ids(self) -> list[str]:
        return [j.id for j in self.jobs]

    @property
    def tax_calculation_method(self) -> str:
        return "EXCLUSIVE"


@dataclass(eq=False)
class QuoteNote(Record):
    TYPENAME: ClassVar[str] = "QuoteNote"
    quote: Quote | None = None
    message: str = ""
    pinned: bool = False
    created_at: datetime = field(default_factory=now_utc)
    last_edited_at: datetime | None = None


@dataclass(eq=False)
class Quote(Stamped):
    TYPENAME: ClassVar[str] = "Quote"
    quote_number: str = ""
    quote_status: str = "draft"
    title: str | None = None
    message: str | None = None
    client: Client | None = None
    property_: Property | None = None
    notes: list[QuoteNote] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    line_items: list[QuoteLineItem] = field(default_factory=list)
    subtotal: float = 0.0
    tax_amount: float = 0.0
    sent_at: datetime | None = None
    approved_at: datetime | None = None
    changes_requested_at: datetime | None = None
    converted_at: datetime | None = None
    transitioned_at: datetime = field(default_factory=now_utc)

    @property
    def total(self) -> float:
        return round(self.subtotal + self.tax_amount, 2)

    @property
    def amounts(self) -> dict[str, float]:
        return {
            "total": self.total,
            "subtotal": self.subtotal,
            "taxAmount": self.tax_amount,
            "depositAmount": 0.0,
            "discountAmount": 0.0,
            "nonTaxAmount": 0.0,
            "outstandingDepositAmount": 0.0,
        }

    @property
    def last_transitioned(self) -> dict[str, datetime | None]:
        return {
            "approvedAt": self.approved_at,
            "changesRequestedAt": self.changes_requested_at,
            "convertedAt": self.converted_at,
        }

    @property
    def cost(self) -> float:
        return self.total

    @property
    def jobber_web_uri(self) -> str:
        return f"{WEB_BASE}/quotes/{self.pk}"


@dataclass(eq=False)
class Request(Stamped):
    TYPENAME: ClassVar[str] = "Request"
    title: str | None = None
    client: Client | None = None
    property_: Property | None = None
    request_status: str = "new"
    source: str = "GQL_API"
    contact_name: str | None = None
    company_name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def is_archivable(self) -> bool:
        return self.request_status != "archived"

    @property
    def jobber_web_uri(self) -> str:
        return f"{WEB_BASE}/requests/{self.pk}"


@dataclass(eq=False)
class Task(Stamped):
    TYPENAME: ClassVar[str] = "Task"
    title: str | None = None
    instructions: str | None = None
    client: Client | None = None
    property_: Property | None = None
    assigned_users: list[User] = field(default_factory=list)
    start_at: datetime | None = None
    end_at: datetime | None = None
    all_day: bool = False
    is_complete: bool = False


@dataclass(eq=False)
class Expense(Stamped):
    TYPENAME: ClassVar[str] = "Expense"
    title: str = ""
    description: str | None = None
    date: datetime = field(default_factory=now_utc)
    total: float | None = None
    linked_job: Job | None = None
    entered_by: User | None = None
    reimbursable_to: User | None = None
    paid_by: User | None = None


@dataclass(eq=False)
class WebhookEndpoint(Stamped):
    TYPENAME: ClassVar[str] = "WebhookEndpoint"
    topic: str = ""
    url: str = ""
