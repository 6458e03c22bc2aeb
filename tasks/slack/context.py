"""What each notification says, taken from the refetched Jobber record: plain dicts for the templates.

Pure functions of Jobber's GraphQL answers (documents in `tasks/jobber/documents/slack/`, read through the
models of `tasks/jobber/models.py`) and of review request rows; the templates in `templates/slack/`
decide how it looks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.jobber.models import Client, Invoice, Job, Quote
from tasks.store.models import ReviewRequest


def client_context(node: Mapping[str, Any] | Client) -> dict[str, Any]:
    client = Client.of(node)
    return {
        "id": client.id,
        "name": client.name or client.company_name or "(no name)",
        "company": client.company_name if client.is_company is False else None,
        "is_lead": bool(client.is_lead),
        "email": client.primary_email,
        "phone": client.primary_phone,
        "city": (client.billing_address.city_and_province if client.billing_address else "") or None,
        "created_at": client.created_at,
        "url": client.jobber_web_uri,
    }


def _client_name(client: Client | None) -> str:
    return (client.name if client else None) or "(no client)"


def _work_item(item: Job | Invoice | Quote, *, number: int | str | None, status: str | None) -> dict[str, Any]:
    """What every job, invoice and quote notification names: which one, its status, whose it is, its link."""
    return {
        "id": item.id,
        "number": number,
        "status": status,
        "client_name": _client_name(item.client),
        "url": item.jobber_web_uri,
    }


def job_context(node: Mapping[str, Any] | Job) -> dict[str, Any]:
    job = Job.of(node)
    address = job.property.address if job.property else None
    return _work_item(job, number=job.job_number, status=job.job_status) | {
        "title": job.title or "(untitled job)",
        "address": (address.street_and_city if address else "") or None,
        "team": job.team,
        "completed_at": job.completed_at,
        "total": job.total,
    }


def invoice_context(node: Mapping[str, Any] | Invoice) -> dict[str, Any]:
    invoice = Invoice.of(node)
    amounts = invoice.amounts
    return _work_item(invoice, number=invoice.invoice_number, status=invoice.invoice_status) | {
        "subject": invoice.subject,
        "total": amounts.total if amounts else None,
        "paid": amounts.payments_total if amounts else None,
        "balance": amounts.invoice_balance if amounts else None,
        "issued_at": invoice.issued_date,
        "due_at": invoice.due_date,
        "received_at": invoice.received_date,
        "jobs": [f"#{j.job_number} {j.title or ''}".strip() for j in invoice.jobs],
    }


def quote_context(node: Mapping[str, Any] | Quote) -> dict[str, Any]:
    quote = Quote.of(node)
    return _work_item(quote, number=quote.quote_number, status=quote.quote_status) | {
        "title": quote.title or "(untitled quote)",
        "total": quote.amounts.total if quote.amounts else None,
    }


def review_failed_context(request: ReviewRequest) -> dict[str, Any]:
    context = request.context if isinstance(request.context, Mapping) else {}
    return {
        "id": request.id,
        "job_id": request.job_id,
        "job_number": request.job_number,
        "job_title": context.get("job_title") or context.get("jobTitle"),
        "recipient_name": request.recipient_name or "(unknown customer)",
        "channel": request.channel,
        "reason": request.reason or "no reason recorded",
        "attempts": request.attempts,
        "trigger": request.trigger,
    }
