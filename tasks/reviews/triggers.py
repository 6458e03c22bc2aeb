"""Does a Jobber event start a review request under the contractor's trigger? Fetch the item and decide.

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

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.reviews.mapping import ReviewContext, context_from_invoice, context_from_job, parse_time
from tasks.reviews.settings import Trigger

log = logging.getLogger(__name__)

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


def is_closed(job: Mapping[str, Any]) -> bool:
    return job.get("jobStatus") == "archived" or bool(job.get("completedAt"))


def match_job(job: Mapping[str, Any] | None, *, occurred_at: datetime | None) -> TriggerMatch:
    if job is None:
        return no_match("the job no longer exists in Jobber")
    if not is_closed(job):
        return no_match(f"job is not closed (jobStatus {job.get('jobStatus')})")
    return TriggerMatch(
        matched=True,
        context=context_from_job(job),
        trigger_item_id=str(job.get("id")),
        trigger_at=parse_time(job.get("completedAt")) or occurred_at,
    )


def match_visit(visit: Mapping[str, Any] | None, *, occurred_at: datetime | None) -> TriggerMatch:
    if visit is None:
        return no_match("the visit no longer exists in Jobber")
    if not (visit.get("isComplete") or visit.get("completedAt")):
        return no_match("visit is not complete")
    job = visit.get("job")
    if not isinstance(job, Mapping) or not job.get("id"):
        return no_match("the visit has no job")
    return TriggerMatch(
        matched=True,
        context=context_from_job(job),
        trigger_item_id=str(visit.get("id")),
        trigger_at=parse_time(visit.get("completedAt")) or occurred_at,
    )


def match_invoice(invoice: Mapping[str, Any] | None, *, trigger: Trigger, occurred_at: datetime | None) -> TriggerMatch:
    if invoice is None:
        return no_match("the invoice no longer exists in Jobber")
    status = invoice.get("invoiceStatus")
    if trigger == "invoice_paid" and status != "paid":
        return no_match(f"invoice is not paid (invoiceStatus {status})")
    when = parse_time(invoice.get("updatedAt" if trigger == "invoice_paid" else "createdAt"))
    return TriggerMatch(
        matched=True,
        context=context_from_invoice(invoice),
        trigger_item_id=str(invoice.get("id")),
        trigger_at=occurred_at or when,
    )


def fetch_job(client: JobberClient, job_id: str) -> Mapping[str, Any] | None:
    node = client.execute(load_document("reviews/job"), {"id": job_id}).get("job")
    return node if isinstance(node, Mapping) else None


def fetch_visit(client: JobberClient, visit_id: str) -> Mapping[str, Any] | None:
    node = client.execute(load_document("reviews/visit"), {"id": visit_id}).get("visit")
    return node if isinstance(node, Mapping) else None


def fetch_invoice(client: JobberClient, invoice_id: str) -> Mapping[str, Any] | None:
    node = client.execute(load_document("reviews/invoice"), {"id": invoice_id}).get("invoice")
    return node if isinstance(node, Mapping) else None


# (kind: "job" | "visit" | "invoice" | "payment", id) -> the node in the review documents' shape, or None
ItemFetch = Callable[[str, str], Mapping[str, Any] | None]


def jobber_fetch(client: JobberClient) -> ItemFetch:
    """Fetch with the review documents (one query per call)."""

    def fetch(kind: str, item_id: str) -> Mapping[str, Any] | None:
        if kind == "job":
            return fetch_job(client, item_id)
        if kind == "visit":
            return fetch_visit(client, item_id)
        if kind == "invoice":
            return fetch_invoice(client, item_id)
        if kind == "payment":
            node = client.execute(load_document("reviews/payment"), {"id": item_id}).get("paymentRecord")
            return node if isinstance(node, Mapping) else None
        raise ValueError(f"no review document for {kind!r}")

    return fetch


def resolve_event(
    client: JobberClient,
    *,
    trigger: Trigger,
    topic: str,
    item_id: str,
    occurred_at: str | None = None,
    fetch: ItemFetch | None = None,
) -> TriggerMatch:
    """Fetch what the event names and decide whether it starts a request under `trigger`. `fetch` answers
    items already fetched for other work (tasks/events/fetch.py); by default each is queried here."""
    fetch = fetch or jobber_fetch(client)
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
        invoice = payment.get("invoice") if payment is not None else None
        if not isinstance(invoice, Mapping) or not invoice.get("id"):
            return no_match("the payment is not for an invoice (or no longer exists)")
        invoice_id = str(invoice["id"])
    return match_invoice(fetch("invoice", invoice_id), trigger=trigger, occurred_at=when)


# -- the re-check just before sending ---------------------------------------------------------------


def job_states(client: JobberClient, job_ids: list[str]) -> dict[str, Mapping[str, Any]]:
    """id -> {jobStatus, completedAt} for the jobs that still exist (one request per 100 jobs)."""
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(job_ids), 100):
        chunk = job_ids[start : start + 100]
        for node in client.paginate(load_document("reviews/job_states"), {"ids": chunk}, path=["jobs"], page_size=100):
            found[str(node.get("id"))] = node
    return found


def still_valid(
    client: JobberClient,
    *,
    trigger: str,
    job_id: str,
    trigger_item_id: str | None,
    known_jobs: Mapping[str, Mapping[str, Any]] | None = None,
) -> str | None:
    """None when the request's trigger still holds in Jobber; else why it must be cancelled."""
    if trigger in ("job_closed", "visit_completed") and not job_id.startswith("invoice:"):
        job = known_jobs.get(job_id) if known_jobs is not None else fetch_job(client, job_id)
        if job is None:
            return "the job was deleted in Jobber before sending"
        if trigger == "job_closed" and not is_closed(job):
            return f"the job was reopened before sending (jobStatus {job.get('jobStatus')})"
        if trigger == "visit_completed" and trigger_item_id:
            visit = client.execute(load_document("reviews/visit_state"), {"id": trigger_item_id}).get("visit")
            if not isinstance(visit, Mapping):
                return "the visit was deleted in Jobber before sending"
            if not (visit.get("isComplete") or visit.get("completedAt")):
                return "the visit was marked incomplete before sending"
        return None
    if trigger in ("invoice_created", "invoice_paid") and trigger_item_id:
        invoice = client.execute(load_document("reviews/invoice_state"), {"id": trigger_item_id}).get("invoice")
        if not isinstance(invoice, Mapping):
            return "the invoice was deleted in Jobber before sending"
        if trigger == "invoice_paid" and invoice.get("invoiceStatus") != "paid":
            return f"the invoice is no longer paid (invoiceStatus {invoice.get('invoiceStatus')})"
    return None


def business_timezone(client: JobberClient) -> str | None:
    """The connected user's time zone (Jobber's Account has none), or None when Jobber will not say."""
    try:
        node = client.execute(load_document("reviews/user_timezone")).get("user")
    except Exception as exc:  # noqa: BLE001 - a missing scope must not stop a review request
        log.info("Could not read the Jobber user's time zone: %s", type(exc).__name__)
        return None
    zone = node.get("timezone") if isinstance(node, Mapping) else None
    return str(zone) if zone else None
