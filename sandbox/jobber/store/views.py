"""Short JSON views of records, for the ``/sandbox`` endpoints (what a person sees in a list)."""

from __future__ import annotations

from typing import Any

from ..models import Client, Expense, Invoice, Job, Payment, Property, Quote, Record, Request, Task, User, Visit
from .values import iso


def brief(rec: Record | None) -> dict[str, Any]:
    """A short JSON view of a record (for the /sandbox endpoints)."""
    if rec is None:
        return {}
    out: dict[str, Any] = {"__typename": rec.typename, "id": rec.id}
    if isinstance(rec, Client):
        out.update(
            name=rec.name,
            firstName=rec.first_name,
            lastName=rec.last_name,
            companyName=rec.company_name,
            email=rec.email,
            phone=rec.phone,
            smsAllowed=next((p.sms_allowed for p in rec.phones if p.primary), None),
            isArchived=rec.is_archived,
            updatedAt=iso(rec.updated_at),
        )
    elif isinstance(rec, Job):
        out.update(
            jobNumber=rec.job_number,
            title=rec.title,
            jobStatus=rec.job_status,
            client=rec.client.name if rec.client else None,
            clientId=rec.client.id if rec.client else None,
            total=rec.total,
            completedAt=iso(rec.completed_at),
            updatedAt=iso(rec.updated_at),
            visits=[
                {
                    "id": v.id,
                    "isComplete": v.is_complete,
                    "assignedUsers": [u.name["full"] for u in v.assigned_users],
                }
                for v in rec.visits
            ],
        )
    elif isinstance(rec, Visit):
        out.update(
            title=rec.title,
            visitStatus=rec.visit_status,
            isComplete=rec.is_complete,
            completedAt=iso(rec.completed_at),
            startAt=iso(rec.start_at),
            jobId=rec.job.id if rec.job else None,
            jobNumber=rec.job.job_number if rec.job else None,
            assignedUsers=[u.name["full"] for u in rec.assigned_users],
        )
    elif isinstance(rec, Invoice):
        out.update(
            invoiceNumber=rec.invoice_number,
            invoiceStatus=rec.invoice_status,
            total=rec.total,
            invoiceBalance=rec.balance,
            paymentsTotal=rec.payments_total,
            client=rec.client.name if rec.client else None,
            jobIds=[j.id for j in rec.jobs],
            paymentIds=[p.id for p in rec.payment_records],
            updatedAt=iso(rec.updated_at),
        )
    elif isinstance(rec, Quote):
        out.update(
            quoteNumber=rec.quote_number,
            quoteStatus=rec.quote_status,
            title=rec.title,
            total=rec.total,
            client=rec.client.name if rec.client else None,
            sentAt=iso(rec.sent_at),
            updatedAt=iso(rec.updated_at),
        )
    elif isinstance(rec, Property):
        out.update(
            street=rec.street,
            city=rec.city,
            province=rec.province,
            postalCode=rec.postal_code,
            country=rec.country,
            clientId=rec.client.id if rec.client else None,
        )
    elif isinstance(rec, Payment):
        out.update(
            amount=rec.amount,
            invoiceId=rec.invoice.id if rec.invoice else None,
            entryDate=iso(rec.entry_date),
        )
    elif isinstance(rec, User):
        out.update(name=rec.name["full"], email=rec.email_raw, timezone=rec.timezone)
    elif isinstance(rec, Request | Task | Expense):
        out.update(title=rec.title, updatedAt=iso(rec.updated_at))
    return out
