"""The kinds of Slack notification, as named in SLACK_CHANNELS, and the Jobber topics that produce them."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    CLIENT_CREATED = "client_created"
    JOB_CLOSED = "job_closed"
    INVOICE_CREATED = "invoice_created"
    INVOICE_PAID = "invoice_paid"
    QUOTE_APPROVED = "quote_approved"
    REVIEW_FAILED = "review_failed"


# The pseudo-topic other flows use (directly or through the `jobberflow.review.failed` event) to report a
# review request that could not be delivered; its item id is the review request's id.
REVIEW_FAILED_TOPIC = "REVIEW_FAILED"

# Jobber webhook topic -> the notification it may produce. INVOICE_UPDATE and PAYMENT_CREATE only produce
# one when the refetched invoice is paid.
TOPIC_KINDS: dict[str, NotificationKind] = {
    "CLIENT_CREATE": NotificationKind.CLIENT_CREATED,
    "JOB_CLOSED": NotificationKind.JOB_CLOSED,
    "INVOICE_CREATE": NotificationKind.INVOICE_CREATED,
    "INVOICE_UPDATE": NotificationKind.INVOICE_PAID,
    "PAYMENT_CREATE": NotificationKind.INVOICE_PAID,
    "QUOTE_APPROVED": NotificationKind.QUOTE_APPROVED,
    REVIEW_FAILED_TOPIC: NotificationKind.REVIEW_FAILED,
}
