"""SQLAlchemy 2.0 typed models. Alembic (tasks/store/migrations) owns the schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    """A Jobber account this installation is connected to."""

    __tablename__ = "accounts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    jobber_account_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    # connected | reconnect_needed | disconnected
    status: Mapped[str] = mapped_column(String(32), default="connected")
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class JobberToken(Base):
    """The account's current OAuth tokens. One row per account; `generation` counts refreshes.

    `refresh_lease`/`refresh_lease_until`: the process refreshing the tokens now (tasks/jobber/auth.py),
    claimed with a conditional UPDATE and committed, so no database lock is held during Jobber's call.
    """

    __tablename__ = "jobber_tokens"

    account_key: Mapped[str] = mapped_column(
        String(200), ForeignKey("accounts.key", ondelete="CASCADE"), primary_key=True
    )
    access_token: Mapped[str | None] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    refresh_lease: Mapped[str | None] = mapped_column(String(36))
    refresh_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# -- synced copies of Jobber records -----------------------------------------------------------------
# Every synced row keeps the columns the flows and the Slack commands query, plus the raw JSON of the
# last version fetched (`raw`) and when it was fetched (`fetched_at`). Ids are Jobber's EncodedIds.


class SyncedRecord:
    """Columns every synced table has."""

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_key: Mapped[str] = mapped_column(String(200), index=True, default="default")
    jobber_created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    jobber_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Client(SyncedRecord, Base):
    __tablename__ = "clients"

    name: Mapped[str | None] = mapped_column(String(300), index=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(300))
    is_company: Mapped[bool | None] = mapped_column(Boolean)
    is_archived: Mapped[bool | None] = mapped_column(Boolean)
    primary_email: Mapped[str | None] = mapped_column(String(320))
    primary_phone: Mapped[str | None] = mapped_column(String(64))
    sms_allowed: Mapped[bool | None] = mapped_column(Boolean)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)


class ClientEmail(Base):
    __tablename__ = "client_emails"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(String(100))


class ClientPhone(Base):
    __tablename__ = "client_phones"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_allowed: Mapped[bool | None] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(String(100))


class Property(SyncedRecord, Base):
    __tablename__ = "properties"

    client_id: Mapped[str | None] = mapped_column(String(200), index=True)
    street: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(200))
    province: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(100))


class Job(SyncedRecord, Base):
    __tablename__ = "jobs"

    job_number: Mapped[int | None] = mapped_column(Integer, index=True)
    title: Mapped[str | None] = mapped_column(String(500))
    job_status: Mapped[str | None] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(200), index=True)
    property_id: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    total: Mapped[float | None] = mapped_column(Float)


class Visit(SyncedRecord, Base):
    __tablename__ = "visits"

    job_id: Mapped[str | None] = mapped_column(String(200), index=True)
    client_id: Mapped[str | None] = mapped_column(String(200))
    property_id: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(500))
    visit_status: Mapped[str | None] = mapped_column(String(64))
    is_complete: Mapped[bool | None] = mapped_column(Boolean)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VisitAssignment(Base):
    __tablename__ = "visit_assignments"

    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_name: Mapped[str | None] = mapped_column(String(300))


class Invoice(SyncedRecord, Base):
    __tablename__ = "invoices"

    invoice_number: Mapped[str | None] = mapped_column(String(64), index=True)
    invoice_status: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str | None] = mapped_column(String(200), index=True)
    total: Mapped[float | None] = mapped_column(Float)
    balance: Mapped[float | None] = mapped_column(Float)
    issued_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    job_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class Quote(SyncedRecord, Base):
    __tablename__ = "quotes"

    quote_number: Mapped[str | None] = mapped_column(String(64))
    quote_status: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str | None] = mapped_column(String(200), index=True)
    property_id: Mapped[str | None] = mapped_column(String(200))
    total: Mapped[float | None] = mapped_column(Float)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(SyncedRecord, Base):
    __tablename__ = "users"

    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))


class SyncWatermark(Base):
    """How far the incremental sync of one resource has come, and where an unfinished run stopped."""

    __tablename__ = "sync_watermarks"

    account_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Every record updated at or before this instant is in the database.
    watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An unfinished run: the cursor after its last committed page, and the filter it ran with.
    resume_cursor: Mapped[str | None] = mapped_column(Text)
    resume_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resume_high_water: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class WebhookInbox(Base):
    """Jobber webhooks as received: durable, deduplicated on (account, topic, item, occurredAt)."""

    __tablename__ = "webhook_inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(String(200), index=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    item_id: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    relay_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when Prefect refused the row's event for good (a 4xx such as 422): the relay sets it aside
    # (deployments/gateway/relay.py), its reason in last_error, so it no longer blocks the rows after it.
    relay_rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # The work the event causes (tasks/events/queue.py): pending -> claimed -> done | failed; "none" for
    # topics nothing acts on. A claim is fenced by its token and expires at work_claimed_until.
    work_state: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    work_claim: Mapped[str | None] = mapped_column(String(36))
    work_claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    work_not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    work_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_webhook_inbox_work", "work_state", "id"),)


SYNCED_MODELS: dict[str, type[SyncedRecord]] = {
    "clients": Client,
    "properties": Property,
    "jobs": Job,
    "visits": Visit,
    "invoices": Invoice,
    "quotes": Quote,
    "users": User,
}


# -- review requests, deliveries, opt-outs -----------------------------------------------------------


class ReviewRequest(Base):
    """One review request per (account, job): the source of truth for "send exactly once".

    States: planned -> claimed -> sent | failed | skipped | cancelled. A sender claims the row (a
    conditional UPDATE) before it calls a provider, so a duplicate webhook, the polling fallback, a
    retried task and a restarted worker can never send twice.
    """

    __tablename__ = "review_requests"
    __table_args__ = (
        UniqueConstraint("account_key", "job_id"),
        # the Make.com endpoint looks requests up by job number; the cooldown check by recipient
        Index("ix_review_requests_account_job_number", "account_key", "job_number"),
        Index("ix_review_requests_recipient_phone", "recipient_phone"),
        Index("ix_review_requests_recipient_email", "recipient_email"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_key: Mapped[str] = mapped_column(String(200), default="default")
    job_id: Mapped[str] = mapped_column(String(200))
    job_number: Mapped[int | None] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(String(200), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    trigger_item_id: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32), default="webhook")  # webhook | poll | make | manual
    status: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(16))  # sms | email
    recipient_name: Mapped[str | None] = mapped_column(String(300))
    recipient_phone: Mapped[str | None] = mapped_column(String(32))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    recipient_timezone: Mapped[str | None] = mapped_column(String(64))
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claim_token: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    follow_ups_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_follow_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    click_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    clicked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One message handed (or about to be handed) to a provider: the initial request or a follow-up."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_request_id: Mapped[int] = mapped_column(ForeignKey("review_requests.id", ondelete="CASCADE"), index=True)
    # "<review_request_id>:<kind>": at most one delivery per request and kind
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # initial | follow_up_1 | follow_up_2
    channel: Mapped[str] = mapped_column(String(16))
    to_address: Mapped[str] = mapped_column(String(320))
    # The exact text handed to the provider (written with the `sending` row, before the call): reconciliation
    # matches on it, so a template edited between attempts cannot hide a message the provider accepted.
    body: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))  # twilio | smtp | outbox
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    # pending -> sending -> sent -> delivered | undelivered | failed; unknown = outcome not known yet
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RestoreMark(Base):
    """This database was restored from a snapshot: messages may have been sent after the snapshot was taken.

    Until a request planned before the restore (id <= `last_request_id`) has a delivery the provider
    confirmed, dispatch asks the provider (`find_sent` since `snapshot_at`) before any send.
    """

    __tablename__ = "restore_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    restored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    snapshot_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_request_id: Mapped[int] = mapped_column(Integer, default=0)
    manifest: Mapped[str | None] = mapped_column(String(500))


class Suppression(Base):
    """An address that must not be messaged: SMS STOP, Twilio 21610, an email unsubscribe."""

    __tablename__ = "suppressions"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)  # sms | email
    address: Mapped[str] = mapped_column(String(320), primary_key=True)  # E.164 number or lower-case email
    reason: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InboundMessage(Base):
    """An SMS a customer sent us (STOP, START, HELP, a reply), recorded with what we did about it."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32), index=True)
    to_number: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))  # opt_out | opt_in | help | reply
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SlackOutbox(Base):
    """A Slack notification waiting to be (or already) posted: an outage delays it, never loses it."""

    __tablename__ = "slack_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a claim's lease expiry
    claim_token: Mapped[str | None] = mapped_column(String(64))  # the holder's fencing token (tasks.store.lease)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PollWatermark(Base):
    """How far the review-request polling fallback has looked, per account and trigger."""

    __tablename__ = "poll_watermarks"

    account_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class JobberApiUsage(Base):
    """The last known Jobber API budget and running counters, written by the processes that call Jobber
    (every few seconds, not per request) so the gateway's /metrics and the admin page can show them."""

    __tablename__ = "jobber_api_usage"

    account_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    points_available: Mapped[float | None] = mapped_column(Float)
    points_maximum: Mapped[float | None] = mapped_column(Float)
    restore_rate: Mapped[float | None] = mapped_column(Float)
    requests_total: Mapped[int] = mapped_column(Integer, default=0)
    throttled_total: Mapped[int] = mapped_column(Integer, default=0)
    rate_limited_total: Mapped[int] = mapped_column(Integer, default=0)
    cost_total: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
