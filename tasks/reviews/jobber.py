"""What review requests read from Jobber: the items an event names, the re-check before sending, the
business's time zone. The decisions on what is read are the rules' (tasks/reviews/rules/triggers.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Invoice, Job, User, Visit
from tasks.reviews.rules.triggers import ItemFetch, TriggerMatch, is_closed, is_complete, match_event
from tasks.reviews.settings import Trigger

log = logging.getLogger(__name__)

_zones: dict[int, str | None] = {}
_zones_lock = threading.Lock()


def fetch_job(client: JobberClient, job_id: str) -> Mapping[str, Any] | None:
    node = client.execute(load_document("reviews/job"), {"id": job_id}).get("job")
    return node if isinstance(node, Mapping) else None


def fetch_visit(client: JobberClient, visit_id: str) -> Mapping[str, Any] | None:
    node = client.execute(load_document("reviews/visit"), {"id": visit_id}).get("visit")
    return node if isinstance(node, Mapping) else None


def fetch_invoice(client: JobberClient, invoice_id: str) -> Mapping[str, Any] | None:
    node = client.execute(load_document("reviews/invoice"), {"id": invoice_id}).get("invoice")
    return node if isinstance(node, Mapping) else None


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
    return match_event(
        trigger=trigger, topic=topic, item_id=item_id, occurred_at=occurred_at, fetch=fetch or jobber_fetch(client)
    )


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
        node = known_jobs.get(job_id) if known_jobs is not None else fetch_job(client, job_id)
        if node is None:
            return "the job was deleted in Jobber before sending"
        job = Job.of(node)
        if trigger == "job_closed" and not is_closed(job):
            return f"the job was reopened before sending (jobStatus {job.job_status})"
        if trigger == "visit_completed" and trigger_item_id:
            visit = client.execute(load_document("reviews/visit_state"), {"id": trigger_item_id}).get("visit")
            if not isinstance(visit, Mapping):
                return "the visit was deleted in Jobber before sending"
            if not is_complete(Visit.of(visit)):
                return "the visit was marked incomplete before sending"
        return None
    if trigger in ("invoice_created", "invoice_paid") and trigger_item_id:
        node = client.execute(load_document("reviews/invoice_state"), {"id": trigger_item_id}).get("invoice")
        if not isinstance(node, Mapping):
            return "the invoice was deleted in Jobber before sending"
        invoice = Invoice.of(node)
        if trigger == "invoice_paid" and not invoice.is_paid:
            return f"the invoice is no longer paid (invoiceStatus {invoice.invoice_status})"
    return None


def business_timezone(client: JobberClient) -> str | None:
    """The connected user's time zone (Jobber's Account has none), or None when Jobber will not say."""
    try:
        node = client.execute(load_document("reviews/user_timezone")).get("user")
    except Exception as exc:  # noqa: BLE001 - a missing scope must not stop a review request
        log.info("Could not read the Jobber user's time zone: %s", type(exc).__name__)
        return None
    zone = User.of(node).timezone if isinstance(node, Mapping) else None
    return zone or None


def account_key_of(client: JobberClient) -> str:
    """The account a client works for (JOBBER_ACCOUNT_ID, else "default"): the dedupe key's first half."""
    return str(getattr(client.tokens, "account_key", None) or "default")


def business_zone_of(client: JobberClient) -> str | None:
    """The connected user's zone, asked once per client object."""
    with _zones_lock:
        if id(client) in _zones:
            return _zones[id(client)]
    zone = business_timezone(client)
    with _zones_lock:
        _zones[id(client)] = zone
    return zone
