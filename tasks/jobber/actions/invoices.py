"""Invoices: Make.com's Search Invoices, Get an Invoice and Update an Invoice."""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from tasks.jobber.actions._inputs import NEWEST_FIRST, Resource, fields_input, iso
from tasks.jobber.actions.fields import InvoiceEditInput, InvoiceFilterAttributes
from tasks.jobber.client import JobberClient
from tasks.jobber.models import Invoice

INVOICES = Resource("invoices", "invoice", Invoice)


def search_invoices(
    client: JobberClient,
    *,
    search_term: str | None = None,
    updated_after: datetime | None = None,
    limit: int = 50,
    **where: Unpack[InvoiceFilterAttributes],
) -> list[Invoice]:
    """Invoices matching the arguments, most recently updated first. ``status`` is an
    ``InvoiceStatusTypeEnum`` value (``draft``, ``awaiting_payment``, ``paid``, ``past_due``, ...)."""
    invoice_filter = fields_input(InvoiceFilterAttributes, where)
    return INVOICES.search(
        client,
        limit=limit,
        search_term=search_term,
        filter=invoice_filter,
        sort=NEWEST_FIRST,
        updated_after=updated_after,
    )


def get_invoice(client: JobberClient, invoice_id: str) -> Invoice | None:
    """The invoice with its amounts and line items, or None when Jobber answers null."""
    return INVOICES.get(client, invoice_id)


def update_invoice(client: JobberClient, invoice_id: str, **changes: Unpack[InvoiceEditInput]) -> Invoice:
    """Change an invoice's subject, message, number, issue date or review-request flag; None keeps a value."""
    invoice_input = fields_input(InvoiceEditInput, changes, issued_date=iso(changes.get("issued_date")))
    return INVOICES.mutate(client, "update", {"invoiceId": invoice_id, "input": invoice_input}, "invoiceEdit")
