"""Does a Jobber event start a review request under the contractor's trigger? Decided on the fetched item.

| trigger           | topics                          | matches when (always on refetched data)           |
|-------------------|---------------------------------|---------------------------------------------------|
| job_closed        | JOB_CLOSED, JOB_UPDATE          | jobStatus == archived or completedAt is set        |
| visit_completed   | VISIT_COMPLETE (VISIT_UPDATE)   | the visit is complete; one request per job         |
| invoice_created   | INVOICE_CREATE                  | the invoice exists                                 |
| invoice_paid      | INVOICE_UPDATE, PAYMENT_CREATE  | invoiceStatus == paid (a payment -> its invoice)   |

JOB_COMPLETE and INVOICE_PAID are names some guides use; Jobber has no such topics (see JOB_CLOSED and
INVOICE_UPDATE / PAYMENT_CREATE). An event with one of them is answered with that explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.jobber.models import Invoice, Job, PaymentRecord, Visit, parse_time
from tasks.reviews.rules.mapping import ReviewContext, context_from_invoice, context_from_job
from tasks.reviews.settings import Trigger

TOPICS: dict[str, tuple[str, ...]] = {
    "job_closed": ("JOB_CLOSED", "JOB_UPDATE"),
    "visit_completed": ("VISIT_COMPLETE", "VISIT_UPDATE"),
    "invoice_created": ("INVOICE_CREATE",),
    "invoice_paid": ("INVOICE_UPDATE", "PAYMENT_CREATE"),
}

NONEXISTENT_TOPICS = {
    "JOB_COMPLETE": "Jobber has no JOB_COMPLETE topic: closing a job sends JOB_CLOSED (trigger job_closed)",
    "JOB_COMPLETED": "Jobber has no JOB_COMPLETED topic: closing a job sends JOB_CLOSED (trigger job_closed)",
    "INVOICE_PAID": "Jobber has no INVOICE_PAID topic: payments send INVOICE_UPDATE and PAYMENT_CREATE "
    "(trigger invoice_paid refetches invoiceStatus)",
    "VISIT_COMPLETED": "Jobber's topic is VISIT_COMPLETE (trigger visit_completed)",
}


@dataclass(frozen=True)
class TriggerMatch:
    """The answer for one event: matched (with the mapped context) or not (with the reason)."""

    matched: bool
    reason: str | None = None
    context: ReviewContext | None = None
    trigger_item_id: str | None = None
    trigger_at: datetime | None = None


def no_match(reason: str) -> TriggerMatch:
    return TriggerMatch(matched=False, reason=reason)


def is_closed(job: Job) -> bool:
    return job.is_closed or job.completed_at is not None


def is_complete(visit: Visit) -> bool:
    return bool(visit.is_complete) or visit.completed_at is not None


def match_job(node: Mapping[str, Any] | Job | None, *, occurred_at: datetime | None) -> TriggerMatch:
    if node is None:
        return no_match("the job no longer exists in Jobber")
    job = Job.of(node)
    if not is_closed(job):
        return no_match(f"job is not closed (jobStatus {job.job_status})")
    return TriggerMatch(
        matched=True, context=context_from_job(job), trigger_item_id=job.id, trigger_at=job.completed_at or occurred_at
    )


def match_visit(node: Mapping[str, Any] | Visit | None, *, occurred_at: datetime | None) -> TriggerMatch:
    if node is None:
        return no_match("the visit no longer exists in Jobber")
    visit = Visit.of(node)
    if not is_complete(visit):
        return no_match("visit is not complete")
    if visit.job is None or not visit.job.id:
        return no_match("the visit has no job")
    return TriggerMatch(
        matched=True,
        context=context_from_job(visit.job),
        trigger_item_id=visit.id,
        trigger_at=visit.completed_at or occurred_at,
    )


def match_invoice(
    node: Mapping[str, Any] | Invoice | None, *, trigger: Trigger, occurred_at: datetime | None
) -> TriggerMatch:
    if node is None:
        return no_match("the invoice no longer exists in Jobber")
    invoice = Invoice.of(node)
    if trigger == "invoice_paid" and not invoice.is_paid:
        return no_match(f"invoice is not paid (invoiceStatus {invoice.invoice_status})")
    when = invoice.updated_at if trigger == "invoice_paid" else invoice.created_at
    return TriggerMatch(
        matched=True, context=context_from_invoice(invoice), trigger_item_id=invoice.id, trigger_at=occurred_at or when
    )


# (kind: "job" | "visit" | "invoice" | "payment", id) -> the node in the review documents' shape, or None
ItemFetch = Callable[[str, str], Mapping[str, Any] | None]


def match_event(
    *, trigger: Trigger, topic: str, item_id: str, occurred_at: str | None, fetch: ItemFetch
) -> TriggerMatch:
    """Does the event start a request under `trigger`? `fetch` gives the items it names (in the review
    documents' shape): tasks.reviews.jobber.jobber_fetch asks Jobber, the event path answers from its batch."""
    topic = topic.strip().upper()
    when = parse_time(occurred_at)
    if topic in NONEXISTENT_TOPICS:
        return no_match(NONEXISTENT_TOPICS[topic])
    if topic not in TOPICS[trigger]:
        expected = " or ".join(TOPICS[trigger])
        return no_match(f"{topic} does not start trigger {trigger} (it listens to {expected})")
    if trigger == "job_closed":
        return match_job(fetch("job", item_id), occurred_at=when)
    if trigger == "visit_completed":
        return match_visit(fetch("visit", item_id), occurred_at=when)
    invoice_id = item_id
    if topic == "PAYMENT_CREATE":
        payment = fetch("payment", item_id)
        invoice = PaymentRecord.of(payment).invoice if payment is not None else None
        if invoice is None or not invoice.id:
            return no_match("the payment is not for an invoice (or no longer exists)")
        invoice_id = invoice.id
    return match_invoice(fetch("invoice", invoice_id), trigger=trigger, occurred_at=when)
