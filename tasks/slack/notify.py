"""From a Jobber event (or a failed review request) to an outbox row.

Webhooks carry only ids, so the item is refetched from Jobber; what the notification says comes from that
fresh copy. The outbox row's dedupe key is the event's identity, so a duplicate webhook, a retried task or
a replayed event posts once:

| kind            | from                                                    | dedupe key (+ account)   |
|-----------------|---------------------------------------------------------|--------------------------|
| client_created  | CLIENT_CREATE                                           | client id                |
| job_closed      | JOB_CLOSED                                              | job id + completedAt (1) |
| invoice_created | INVOICE_CREATE                                          | invoice id               |
| invoice_paid    | INVOICE_UPDATE / PAYMENT_CREATE, refetched status paid  | invoice id               |
| quote_approved  | QUOTE_APPROVED                                          | quote id                 |
| review_failed   | `notify_review_failed(id)`, `jobberflow.review.failed`  | review request id        |

(1) a job that is reopened and closed again is announced again.

A kind with no channel is skipped before Jobber is asked anything; the skip is returned (and the flow
puts it in its artifact).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import PaymentRecord
from tasks.jobber.times import jobber_time_text
from tasks.settings import Settings, get_settings
from tasks.slack import outbox
from tasks.slack.context import (
    client_context,
    invoice_context,
    job_context,
    quote_context,
    review_failed_context,
)
from tasks.slack.kinds import REVIEW_FAILED_TOPIC, TOPIC_KINDS, NotificationKind
from tasks.slack.render import SlackMessage, render_message
from tasks.slack.routing import ChannelRoutes, routes_from_settings
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest

# (document under tasks/jobber/documents, root field of its answer, item id) -> the record, or None when gone
ItemFetcher = Callable[[str, str, str], Mapping[str, Any] | None]

MAX_KEY = 200


@dataclass(frozen=True)
class Notification:
    kind: NotificationKind
    dedupe_key: str
    message: SlackMessage
    subject: str  # what it is about, for run names and artifacts: "job #1042 Water Heater Installation"


@dataclass(frozen=True)
class Skip:
    kind: NotificationKind | None
    reason: str


@dataclass(frozen=True)
class NotifyOutcome:
    """What happened to one event: queued (a new outbox row), duplicate (the row existed) or skipped."""

    topic: str
    item_id: str
    kind: str | None
    status: str
    reason: str = ""
    channel: str | None = None
    outbox_id: int | None = None
    subject: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "item": self.item_id,
            "kind": self.kind or "",
            "status": self.status,
            "channel": self.channel or "",
            "about": self.subject,
            "why": self.reason,
        }


def dedupe_key(kind: str, account_id: str | None, *parts: object) -> str:
    """`kind:account:part...`; hashed past 200 characters (the column's size)."""
    key = ":".join([kind, account_id or "-", *(str(p) if p is not None else "" for p in parts)])
    if len(key) <= MAX_KEY:
        return key
    return f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def jobber_fetcher(client: JobberClient) -> ItemFetcher:
    def fetch(document: str, root: str, item_id: str) -> Mapping[str, Any] | None:
        node = client.execute(load_document(document), {"id": item_id}).get(root)
        return node if isinstance(node, Mapping) else None

    return fetch


@dataclass(frozen=True)
class Source:
    """Where a kind's notification comes from: the document refetched (and the root field of its answer,
    also the template's name for the record), the context built from it, and what it is about."""

    document: str
    root: str
    context: Callable[[Mapping[str, Any]], dict[str, Any]]
    subject: Callable[[dict[str, Any]], str]


_INVOICE = Source("slack/invoice", "invoice", invoice_context, lambda ctx: f"invoice #{ctx['number']}")
SOURCES: dict[NotificationKind, Source] = {
    NotificationKind.CLIENT_CREATED: Source("slack/client", "client", client_context, lambda ctx: str(ctx["name"])),
    NotificationKind.JOB_CLOSED: Source(
        "slack/job", "job", job_context, lambda ctx: f"job #{ctx['number']} {ctx['title']}"
    ),
    NotificationKind.INVOICE_CREATED: _INVOICE,
    NotificationKind.INVOICE_PAID: _INVOICE,
    NotificationKind.QUOTE_APPROVED: Source(
        "slack/quote", "quote", quote_context, lambda ctx: f"quote #{ctx['number']}"
    ),
}


def plan_notification(
    *, topic: str, item_id: str, account_id: str | None, fetch: ItemFetcher, occurred_at: str | None = None
) -> Notification | Skip:
    """Refetch what a Jobber event names and render its notification, or say why there is none."""
    kind = TOPIC_KINDS.get(topic.strip().upper())
    if kind is None or kind not in SOURCES:
        return Skip(None, f"{topic} is not a Jobber event Slack is notified of")
    if kind is NotificationKind.INVOICE_PAID and topic.strip().upper() == "PAYMENT_CREATE":
        payment = fetch("slack/payment", "paymentRecord", item_id)
        paid = PaymentRecord.read(payment)[0].invoice if payment else None
        if paid is None:
            return Skip(kind, "the payment is not for an invoice (or is gone)")
        item_id = paid.id
    source = SOURCES[kind]
    node = fetch(source.document, source.root, item_id)
    if node is None:
        return Skip(kind, f"the {source.root} is no longer in Jobber")
    ctx = source.context(node)
    if kind is NotificationKind.INVOICE_PAID and ctx["status"] != "paid":
        return Skip(kind, f"invoice is {ctx['status'] or 'unknown'}, not paid")
    key = (item_id, jobber_time_text(ctx["completed_at"]) or occurred_at) if "completed_at" in ctx else (item_id,)
    return Notification(
        kind, dedupe_key(kind, account_id, *key), render_message(kind, {source.root: ctx}), source.subject(ctx)
    )


def plan_review_failed(request: ReviewRequest) -> Notification | Skip:
    kind = NotificationKind.REVIEW_FAILED
    if request.status != "failed":
        return Skip(kind, f"review request {request.id} is {request.status}, not failed")
    ctx = review_failed_context(request)
    return Notification(
        kind,
        dedupe_key(kind, request.account_key, request.id),
        render_message(kind, {"review": ctx}),
        f"review request {request.id} ({ctx['recipient_name']})",
    )


def enqueue_notification(
    engine: Engine,
    planned: Notification | Skip,
    routes: ChannelRoutes,
    *,
    topic: str,
    item_id: str,
    now: datetime | None = None,
) -> NotifyOutcome:
    """Write the notification to the outbox for its channel (once per dedupe key), or record the skip."""
    if isinstance(planned, Skip):
        kind = planned.kind.value if planned.kind else None
        return NotifyOutcome(topic, item_id, kind, "skipped", planned.reason)
    channel = routes.channel_for(planned.kind)
    if channel is None:
        return NotifyOutcome(
            topic, item_id, planned.kind, "skipped", f"no channel for {planned.kind}", subject=planned.subject
        )
    with unit_of_work(engine) as session:
        queued = outbox.enqueue(
            session,
            dedupe_key=planned.dedupe_key,
            channel=channel,
            kind=planned.kind.value,
            payload=planned.message.as_payload(),
            now=now or datetime.now(UTC),
        )
    status, reason = ("queued", "") if queued.created else ("duplicate", f"already in the outbox ({queued.status})")
    return NotifyOutcome(topic, item_id, planned.kind, status, reason, channel, queued.outbox_id, planned.subject)


def notify_event(
    engine: Engine,
    routes: ChannelRoutes,
    *,
    topic: str,
    item_id: str,
    account_id: str | None,
    jobber: Callable[[], JobberClient],
    occurred_at: str | None = None,
    fetch: ItemFetcher | None = None,
) -> NotifyOutcome:
    """One Jobber event (or REVIEW_FAILED) -> at most one outbox row. `jobber` is only called when needed;
    `fetch` answers items another part of the same unit of work already fetched (tasks/events/)."""
    upper = topic.strip().upper()
    if upper == REVIEW_FAILED_TOPIC:
        return notify_review_failed(int(item_id), engine=engine, routes=routes)
    kind = TOPIC_KINDS.get(upper)
    if kind is not None and routes.channel_for(kind) is None:
        return NotifyOutcome(topic, item_id, kind, "skipped", f"no channel for {kind}")
    planned = plan_notification(
        topic=upper,
        item_id=item_id,
        account_id=account_id,
        fetch=fetch or jobber_fetcher(jobber()),
        occurred_at=occurred_at,
    )
    return enqueue_notification(engine, planned, routes, topic=upper, item_id=item_id)


def notify_review_failed(
    request_id: int,
    *,
    engine: Engine | None = None,
    settings: Settings | None = None,
    routes: ChannelRoutes | None = None,
) -> NotifyOutcome:
    """Queue a Slack notification for a review request that ended `failed` (other flows call this).

    Posted by the next dispatch (the `slack_dispatch` deployment runs every minute). Calling it twice for
    the same request queues one message.
    """
    if engine is None:
        from tasks.store.db import get_engine

        engine = get_engine((settings or get_settings()).resolved_database_url)
    routes = routes or routes_from_settings(settings or get_settings())
    topic, item = REVIEW_FAILED_TOPIC, str(request_id)
    if routes.channel_for(NotificationKind.REVIEW_FAILED) is None:
        return NotifyOutcome(topic, item, NotificationKind.REVIEW_FAILED, "skipped", "no channel for review_failed")
    with unit_of_work(engine) as session:
        request = session.get(ReviewRequest, request_id)
        planned: Notification | Skip = (
            Skip(NotificationKind.REVIEW_FAILED, f"no review request {request_id}")
            if request is None
            else plan_review_failed(request)
        )
    return enqueue_notification(engine, planned, routes, topic=topic, item_id=item)
