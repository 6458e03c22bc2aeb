"""The optional input fields the actions accept, declared once per Jobber GraphQL input type they fill.

Each ``TypedDict`` is named exactly after the input type of Jobber's schema (``InvoiceEditInput``) and its
keys are that type's fields in snake_case (``issued_date`` -> ``issuedDate``); ``tests/contract`` checks
every key against the bundled schema. The actions take them as keyword arguments,
``update_invoice(client, invoice_id, **changes: Unpack[InvoiceEditInput])``, so a caller writes
``update_invoice(client, invoice_id, subject="x")`` and mypy checks each keyword and its type. A field left
out (or given as None) is not sent: Jobber keeps its value. The values are Python's (a ``datetime``, an
``AddressInput``); the action converts those Jobber spells differently before sending.

What an action needs beyond these (a required field, a default, an argument of the mutation rather than of
its input, a value Jobber takes under another shape) stays an explicit parameter of the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypedDict

from tasks.jobber.models import AddressInput, LineItemInput

# -- search filters (the ``filter`` argument of a search; ``updated_after`` is the action's own)


class ClientFilterAttributes(TypedDict, total=False):
    is_archived: bool | None
    is_lead: bool | None


class InvoiceFilterAttributes(TypedDict, total=False):
    status: str | None
    """An ``InvoiceStatusTypeEnum`` value (``draft``, ``awaiting_payment``, ``paid``, ``past_due``, ...)."""
    client_id: str | None


class QuoteFilterAttributes(TypedDict, total=False):
    status: str | None
    """A ``QuoteStatusTypeEnum`` value (``draft``, ``awaiting_response``, ``approved``, ...)."""
    client_id: str | None


# -- clients


class ClientCreateInput(TypedDict, total=False):
    company_name: str | None
    billing_address: AddressInput | None


class ClientEditInput(ClientCreateInput, total=False):
    first_name: str | None
    last_name: str | None
    tags_to_add: list[str] | None


# -- jobs


class JobCreateAttributes(TypedDict, total=False):
    title: str | None
    instructions: str | None
    job_number: int | None
    line_items: Sequence[LineItemInput]


class JobEditInput(TypedDict, total=False):
    title: str | None
    instructions: str | None
    job_number: int | None
    allow_review_request: bool | None


# -- visits


class VisitCreateAttributes(TypedDict, total=False):
    title: str | None
    instructions: str | None


class VisitEditAttributes(TypedDict, total=False):
    title: str | None
    instructions: str | None


# -- invoices


class InvoiceEditInput(TypedDict, total=False):
    subject: str | None
    message: str | None
    invoice_number: str | None
    issued_date: datetime | None
    allow_review_request: bool | None


# -- quotes


class QuoteCreateAttributes(TypedDict, total=False):
    title: str | None
    message: str | None
    quote_number: int | None
    request_id: str | None


class QuoteEditAttributes(TypedDict, total=False):
    title: str | None
    message: str | None
    quote_number: str | None
    contract_disclaimer: str | None


# -- tasks (Jobber's to-dos)


class TaskCreateInput(TypedDict, total=False):
    instructions: str | None
    start_at: datetime | None
    end_at: datetime | None
    all_day: bool | None


class TaskEditInput(TaskCreateInput, total=False):
    title: str | None


# -- expenses


class ExpenseCreateInput(TypedDict, total=False):
    total: float | None
    description: str | None
    linked_job_id: str | None
    reimbursable_to_id: str | None
    receipt_url: str | None


class ExpenseEditInput(TypedDict, total=False):
    title: str | None
    date: datetime | None
    total: float | None
    description: str | None
    linked_job_id: str | None
    reimbursable_to_id: str | None


# -- requests


class RequestCreateInput(TypedDict, total=False):
    title: str | None
    property_id: str | None
    salesperson_id: str | None
