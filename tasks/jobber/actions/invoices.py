"""Invoices: Make.com's Search Invoices, Get an Invoice and Update an Invoice."""

from __future__ import annotations

from datetime import datetime

from tasks.jobber.actions._inputs import compact, iso, require, updated_after_filter
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Invoice


def search_invoices(
    client: JobberClient,
    *,
    search_term: str | None = None,
    status: str | None = None,
    client_id: str | None = None,
    updated_after: datetime | None = None,
    limit: int = 50,
) -> list[Invoice]:
    """Invoices matching the arguments, most recently updated first. ``status`` is an
    ``InvoiceStatusTypeEnum`` value (``draft``, ``awaiting_payment``, ``paid``, ``past_due``, ...)."""
    invoice_filter = compact({"status": status, "clientId": client_id, **(updated_after_filter(updated_after) or {})})
    variables = compact(
        {
            "searchTerm": search_term,
            "filter": invoice_filter or None,
            "sort": [{"key": "UPDATED_AT", "direction": "DESCENDING"}],
        }
    )
    nodes = client.paginate(load_document("invoices/search"), variables, path=["invoices"], limit=limit)
    return [Invoice.model_validate(node) for node in nodes]


def get_invoice(client: JobberClient, invoice_id: str) -> Invoice | None:
    """The invoice with its amounts and line items, or None when Jobber answers null."""
    node = client.execute(load_document("invoices/get"), {"id": invoice_id}).get("invoice")
    return None if node is None else Invoice.model_validate(node)


def update_invoice(
    client: JobberClient,
    invoice_id: str,
    *,
    subject: str | None = None,
    message: str | None = None,
    invoice_number: str | None = None,
    issued_date: datetime | None = None,
    allow_review_request: bool | None = None,
) -> Invoice:
    """Change an invoice's subject, message, number, issue date or review-request flag; None keeps a value."""
    invoice_input = compact(
        {
            "subject": subject,
            "message": message,
            "invoiceNumber": invoice_number,
            "issuedDate": iso(issued_date),
            "allowReviewRequest": allow_review_request,
        }
    )
    payload = client.mutate(
        load_document("invoices/update"), {"invoiceId": invoice_id, "input": invoice_input}, payload="invoiceEdit"
    )
    return Invoice.model_validate(require(payload, "invoice", "invoiceEdit"))
