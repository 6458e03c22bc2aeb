"""The review ledger: the one module that writes review requests and their deliveries.

Requests. One row per (account, job), created once (`insert_request`: the unique constraint is the
dedupe), claimed before sending, released with the outcome. The state machine:

    planned --claim--> claimed --> sent | failed | skipped | cancelled
       ^                  |
       +---- retry -------+   (a transient error, an unknown outcome, the clock: planned again, later)

A follow-up claims a `sent` row the same way and puts it back to `sent`. Claims go through the lease
queue (tasks/store/lease.py): one conditional UPDATE sets a fresh token, so of any number of workers
racing for a row exactly one takes it. A claim older than the lease (a worker killed mid-send) may be
taken over; its half-done delivery is then reconciled with the provider before anything is re-sent.
Every later write (`renew_claim`, `put_back`, `finish`, `record_sent`) is fenced by the token.

Deliveries (`deliver_once`). A `deliveries` row keyed "<request id>:<step>:<channel>" is written with
status `sending` and committed BEFORE the provider is called, in the transaction that renews the claim
(`renew_claim`): a worker that stalled past the lease and lost the request to another finds no claim to
renew, writes nothing and calls no provider. A row found in `sending`/`unknown` (a crash or a timeout
after the call), or any first attempt on a database restored from a snapshot, is reconciled with the
provider (`channel.find_sent()`, outside any transaction) and re-sent only when the provider never got
it. `reconcile_pending` is that reconciliation alone (the same code, fenced the same way), for a sender
about to wait for quiet hours: a message the provider already has is recorded sent at once.

Afterwards. An SMS reply stops the request's follow-ups (`record_inbound`, `record_reply`; the inbound
message itself and STOP/START are the store's, tasks/store/optouts.py), and a provider's delivery receipt
moves its delivery forward, never back (`record_receipt`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tasks.delivery.base import Channel, OutgoingMessage, SendResult, suppression_reason
from tasks.errors import DeliveryError, DeliveryOutcomeUnknown, PermanentDeliveryError
from tasks.store import optouts
from tasks.store.accounts import as_utc
from tasks.store.db import unit_of_work
from tasks.store.lease import LeaseQueue
from tasks.store.models import Delivery, ReviewRequest, utcnow
from tasks.store.optouts import InboundAction, suppress
from tasks.store.restores import reconcile_since

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("planned", "claimed", "sent")
FINAL_STATUSES = ("sent", "failed", "skipped", "cancelled")


def find_request(
    session: Session, *, account_key: str, job_id: str, job_number: int | None = None
) -> ReviewRequest | None:
    """The request for this job: by Jobber id, or by job number (Make.com scenarios often send the number)."""
    found = session.scalars(
        select(ReviewRequest).where(ReviewRequest.account_key == account_key, ReviewRequest.job_id == job_id)
    ).first()
    if found is None and job_number is not None:
        found = session.scalars(
            select(ReviewRequest)
            .where(ReviewRequest.account_key == account_key, ReviewRequest.job_number == job_number)
            .order_by(ReviewRequest.id)
        ).first()
    return found


def insert_request(session: Session, *, values: dict[str, Any]) -> tuple[ReviewRequest, bool]:
    """Insert a request; (row, True) when new, (the existing row, False) when (account, job) already has one.

    The unique constraint decides: a concurrent insert for the same job waits for the other transaction and
    then loses, inside a savepoint, without disturbing the caller's transaction.
    """
    request = ReviewRequest(**values)
    try:
        with session.begin_nested():
            session.add(request)
            session.flush()
    except IntegrityError:
        existing = find_request(session, account_key=values["account_key"], job_id=values["job_id"])
        if existing is None:
            raise
        return existing, False
    return request, True


def recent_request_for_client(
    session: Session,
    *,
    account_key: str,
    since: datetime,
    exclude_job_id: str,
    client_id: str | None,
    phone: str | None,
    email: str | None,
) -> ReviewRequest | None:
    """A request sent (or about to be) to the same client since `since`: the cooldown.

    The same client is the same Jobber client, or the same phone or email (Make.com requests have no id).
    """
    who = []
    if client_id:
        who.append(ReviewRequest.client_id == client_id)
    if phone:
        who.append(ReviewRequest.recipient_phone == phone)
    if email:
        who.append(ReviewRequest.recipient_email == email)
    if not who:
        return None
    return session.scalars(
        select(ReviewRequest)
        .where(
            ReviewRequest.account_key == account_key,
            ReviewRequest.job_id != exclude_job_id,
            ReviewRequest.status.in_(ACTIVE_STATUSES),
            or_(*who),
            or_(
                ReviewRequest.sent_at >= since, and_(ReviewRequest.sent_at.is_(None), ReviewRequest.created_at >= since)
            ),
        )
        .order_by(ReviewRequest.created_at.desc())
    ).first()


def _due_clause(now: datetime, lease: timedelta) -> Any:
    return or_(
        and_(ReviewRequest.status == "planned", ReviewRequest.planned_at <= now),
        and_(ReviewRequest.status == "claimed", ReviewRequest.claimed_at < now - lease),
        and_(
            ReviewRequest.status == "sent",
            ReviewRequest.next_follow_up_at <= now,
            ReviewRequest.clicked_at.is_(None),
            ReviewRequest.replied_at.is_(None),
        ),
    )


def due_request_ids(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Ids of requests whose first message or next follow-up is due, and of abandoned claims."""
    rows = session.scalars(
        select(ReviewRequest.id)
        .where(_due_clause(now, lease))
        .order_by(ReviewRequest.planned_at.asc().nulls_last(), ReviewRequest.id)
        .limit(limit)
    )
    return list(rows)


_QUEUE = LeaseQueue(ReviewRequest.__table__, "claim_token", held=ReviewRequest.status == "claimed")  # type: ignore[arg-type]


def claim(session: Session, *, request_id: int, token: str, now: datetime, lease: timedelta) -> bool:
    """Take the request for sending: True for exactly one of any number of concurrent callers."""
    values = {"status": "claimed", "claimed_at": now, "attempts": ReviewRequest.attempts + 1}
    claimable = and_(ReviewRequest.id == request_id, _due_clause(now, lease))
    return bool(_QUEUE.claim(session, claimable=claimable, values=values, token=token))


def renew_claim(session: Session, *, request_id: int, token: str, now: datetime) -> bool:
    """The fence before a provider call: renew this worker's claim (`claimed_at = now`) only while it still
    holds it (`WHERE claim_token = :token AND status = 'claimed'`). False when the claim was lost: the lease
    ran out and another worker took the request over, so this worker must not send anything.

    Call it in the transaction that writes the delivery ledger row: the renewal and the row commit together,
    and a takeover (a conditional UPDATE on the same row) is ordered either before it (this returns False)
    or after it (the renewed claim is not due, so the takeover does not happen).
    """
    return _QUEUE.renew(session, token, [request_id], {"claimed_at": now}) == 1


def release(session: Session, *, request_id: int, token: str, values: dict[str, Any]) -> bool:
    """Leave the claim with the new state in `values`; False when the claim was lost (lease taken over)."""
    return _QUEUE.release(session, token, [request_id], values) == 1


def delivery_for(session: Session, *, key: str) -> Delivery | None:
    return session.scalars(select(Delivery).where(Delivery.idempotency_key == key)).first()


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def request_by_click_token(session: Session, *, token: str) -> ReviewRequest | None:
    # Tokens are URL-safe base64: anything else (a NUL byte PostgreSQL refuses, say) matches nothing.
    if not token or len(token) > 64 or not set(token) <= _TOKEN_CHARS:
        return None
    return session.scalars(select(ReviewRequest).where(ReviewRequest.click_token == token)).first()


def record_click(request: ReviewRequest, *, now: datetime) -> bool:
    """The customer opened the review link (the first time counts): no more follow-ups."""
    if request.clicked_at is not None:
        return False
    request.clicked_at = now
    request.next_follow_up_at = None
    return True


def record_inbound(
    session: Session, *, message_sid: str | None, from_number: str, to_number: str | None, body: str
) -> InboundAction:
    """Record an inbound SMS (tasks/store/optouts.py: stored once per MessageSid, STOP and START applied)
    and, for a reply seen the first time, stop the follow-ups of the request it answers; returns the action
    (the first recording's, for a MessageSid seen before)."""
    action, new = optouts.record_inbound(
        session, message_sid=message_sid, from_number=from_number, to_number=to_number, body=body
    )
    if new and action == "reply":
        record_reply(session, phone=from_number)
    return action


def record_reply(session: Session, *, phone: str) -> None:
    """Stop follow-ups for the review request the customer is answering: the newest one sent to the number
    (or the newest at all when none was sent yet)."""
    numbers = {phone, optouts.normalize_address(channel="sms", address=phone)}
    newest = session.scalars(
        select(ReviewRequest)
        .where(ReviewRequest.recipient_phone.in_(numbers))
        .order_by(ReviewRequest.sent_at.is_(None), ReviewRequest.sent_at.desc(), ReviewRequest.id.desc())
        .limit(1)
    ).first()
    if newest is not None and newest.replied_at is None:
        newest.replied_at = utcnow()
        session.flush()


# -- the request's transitions while a worker holds its claim ---------------------------------------


def put_back(
    session: Session,
    *,
    request_id: int,
    token: str,
    follow_up: bool,
    when: datetime,
    reason: str,
    give_up: bool = False,
    attempt: bool = True,
    context: dict[str, Any] | None = None,
) -> bool:
    """Planned again for `when` (a follow-up: rescheduled, the request stays sent), or given up (a first
    message fails, follow-ups stop). `attempt=False`: held back by the clock or by Jobber, not counted as an
    attempt. `context` replaces the stored context (the Jobber-trouble clock)."""
    values: dict[str, Any] = {"reason": reason}
    if follow_up:
        values.update(status="sent", next_follow_up_at=None if give_up else when)
    elif give_up:
        values.update(status="failed")
    else:
        values.update(status="planned", planned_at=when)
    if not attempt:
        values["attempts"] = ReviewRequest.attempts - 1
    if context is not None:
        values["context"] = context
    return release(session, request_id=request_id, token=token, values=values)


def finish(session: Session, *, request_id: int, token: str, status: str, reason: str | None, **extra: Any) -> bool:
    """A final state (sent, failed, skipped, cancelled) with its reason."""
    return release(session, request_id=request_id, token=token, values={"status": status, "reason": reason, **extra})


def record_sent(
    session: Session,
    *,
    request_id: int,
    token: str,
    step_done: int | None,
    now: datetime,
    next_follow_up_at: datetime | None,
    reason: str | None,
) -> bool:
    """A step went out: the first message (`step_done` None: sent_at is set) or follow-up number `step_done`."""
    values: dict[str, Any] = {"status": "sent", "reason": reason, "next_follow_up_at": next_follow_up_at}
    if step_done is None:
        values["sent_at"] = now
    else:
        values["follow_ups_sent"] = step_done
    return release(session, request_id=request_id, token=token, values=values)


def keep_context(session: Session, *, request_id: int, token: str, context: dict[str, Any]) -> bool:
    """Rewrite the stored context while holding the claim (the Jobber-trouble clock)."""
    return _QUEUE.renew(session, token, [request_id], {"context": context}) == 1


# -- the delivery ledger: one row per (request, step, channel), written before the provider is called ------


@dataclass(frozen=True)
class Outcome:
    """What `deliver_once` ended with, for one channel."""

    # sent | failed | transient | unknown | lost (the claim was taken over: nothing sent) | absent (only from
    # `reconcile_pending`: the provider does not have it)
    status: str
    detail: str | None = None
    retry_after: float | None = None


def deliver_once(
    engine: Engine,
    *,
    request_id: int,
    step: str,
    message: OutgoingMessage,
    channel: Channel,
    claim_token: str,
    renew_at: datetime | None = None,
) -> Outcome:
    """Hand `message` to `channel` at most once, whatever happened before (crash, timeout, retry, takeover).

    Fenced: the transaction that writes the `sending` row first renews the caller's claim (`claim_token`,
    `claimed_at = renew_at`); when no row matches, the request belongs to another worker now and the
    outcome is "lost" with nothing written and no provider called.
    """
    now = datetime.now(UTC)
    lost = Outcome("lost", "the claim was taken over by another worker after its lease ran out; nothing sent")
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=message.idempotency_key)
        prior = (
            None
            if delivery is None
            else (
                delivery.status,
                delivery.error_message,
                as_utc(delivery.started_at),
                delivery.body,
                delivery.to_address,
            )
        )
        fresh = delivery is None or delivery.status == "pending"
        restored_since = reconcile_since(session, request_id=request_id) if fresh else None
    found: SendResult | None = None
    reconciled = False
    if prior is not None:
        status, error_message, started_at, sent_body, sent_to = prior
        if status in ("sent", "delivered", "undelivered"):
            return Outcome("sent", "already sent")
        if status == "failed":
            return Outcome("failed", error_message)
        if status in ("sending", "unknown"):
            asked = _ask_provider(engine, request_id=request_id, message=message, channel=channel,
                                  claim_token=claim_token, renew_at=renew_at or now, started_at=started_at,
                                  sent_body=sent_body, sent_to=sent_to)  # fmt: skip
            if asked.status != "absent":
                return asked
            reconciled = True
    if restored_since is not None and not reconciled:
        # This database was restored from a snapshot taken after this request was planned: the provider may
        # hold the message from after the snapshot, which the restored ledger cannot know. Ask first.
        try:
            found = channel.find_sent(message, since=restored_since - timedelta(minutes=5))
        except DeliveryError as exc:
            return Outcome("unknown", f"restored from a backup; could not reconcile with the provider yet: {exc}")
        reconciled = True
    with unit_of_work(engine) as session:
        # The fence, in the transaction that writes the ledger row.
        if not renew_claim(session, request_id=request_id, token=claim_token, now=renew_at or now):
            return lost
        delivery = delivery_for(session, key=message.idempotency_key)
        if delivery is not None:
            if delivery.status in ("sent", "delivered", "undelivered"):
                return Outcome("sent", "already sent")
            if delivery.status == "failed":
                return Outcome("failed", delivery.error_message)
            if found is not None:
                _mark_sent(delivery, found, now)
                return Outcome("sent", "reconciled after a restore: the provider had it")
            if delivery.status in ("sending", "unknown") and not reconciled:
                # Written since we looked: never send without asking the provider first (next attempt does).
                delivery.status = "unknown"
                return Outcome("unknown", "the delivery changed while it was being checked")
            delivery.status = "sending"
            delivery.attempts += 1
            delivery.started_at = now
            delivery.body = message.body
            delivery.to_address = message.to
        else:
            delivery = Delivery(
                review_request_id=request_id,
                idempotency_key=message.idempotency_key,
                kind=step,
                channel=message.channel,
                to_address=message.to,
                body=message.body,
                provider=channel.name[:16],
                status="sending",
                attempts=1,
                started_at=now,
                updated_at=now,
            )
            session.add(delivery)
            if found is not None:
                _mark_sent(delivery, found, now)
                return Outcome("sent", "reconciled after a restore: the provider had it")
        delivery_id_key = message.idempotency_key
    # The ledger row is committed: from here a crash leaves "sending", which the next claim reconciles.
    try:
        result = channel.send(message)
    except PermanentDeliveryError as exc:
        _finish_delivery(engine, delivery_id_key, status="failed", error=exc)
        reason = suppression_reason(exc)
        if reason and message.channel == "sms":
            with unit_of_work(engine) as session:
                suppress(session, channel="sms", address=message.to, reason=reason, source=exc.provider or channel.name)
        return Outcome("failed", f"{exc} (code {exc.code})" if exc.code else str(exc))
    except DeliveryOutcomeUnknown as exc:
        _finish_delivery(engine, delivery_id_key, status="unknown", error=exc)
        return Outcome("unknown", str(exc))
    except DeliveryError as exc:  # TransientDeliveryError and anything else that is not final
        _finish_delivery(engine, delivery_id_key, status="pending", error=exc)
        return Outcome("transient", str(exc), getattr(exc, "retry_after", None))
    except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the ledger: reconcile later
        log.warning("Channel %s raised %s; the outcome is treated as unknown", channel.name, type(exc).__name__)
        _finish_delivery(engine, delivery_id_key, status="unknown", error=exc)
        return Outcome("unknown", f"{type(exc).__name__}: {exc}")
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=delivery_id_key)
        if delivery is not None:
            _mark_sent(delivery, result, datetime.now(UTC))
    return Outcome("sent")


def reconcile_pending(
    engine: Engine,
    *,
    request_id: int,
    message: OutgoingMessage,
    channel: Channel,
    claim_token: str,
    renew_at: datetime | None = None,
) -> Outcome | None:
    """Settle a delivery left `sending`/`unknown` with the provider, without sending anything.

    For a caller about to wait (quiet hours): asking the provider is a read, fine at any hour, and a message
    it already has is recorded `sent` now rather than after the wait. None when `message`'s delivery was
    never attempted (no row, or `pending`): only a send can settle it. Otherwise the ledger's answer:
    "sent" (already, or the provider had it), "failed", "absent" (the provider does not have it: a send
    may follow when the clock allows), "unknown" (the provider cannot tell yet) or "lost" (the claim was
    taken over). Fenced by `claim_token` like `deliver_once`, which settles such rows the same way.
    """
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=message.idempotency_key)
        if delivery is None or delivery.status == "pending":
            return None
        status, error_message = delivery.status, delivery.error_message
        started_at, sent_body, sent_to = as_utc(delivery.started_at), delivery.body, delivery.to_address
    if status == "failed":
        return Outcome("failed", error_message)
    if status not in ("sending", "unknown"):
        return Outcome("sent", "already sent")
    return _ask_provider(engine, request_id=request_id, message=message, channel=channel, claim_token=claim_token,
                         renew_at=renew_at or datetime.now(UTC), started_at=started_at, sent_body=sent_body,
                         sent_to=sent_to)  # fmt: skip


def _ask_provider(
    engine: Engine,
    *,
    request_id: int,
    message: OutgoingMessage,
    channel: Channel,
    claim_token: str,
    renew_at: datetime,
    started_at: datetime | None,
    sent_body: str | None,
    sent_to: str | None,
) -> Outcome:
    """Ask the provider whether it has a delivery left `sending`/`unknown`; record its answer, fenced.

    "sent" (the row is marked sent), "absent" (the provider does not have it: re-sending is safe),
    "unknown" (the provider could not be asked; the row says so) or "lost" (the claim was taken over:
    nothing written)."""
    now = datetime.now(UTC)
    # Ask the provider outside any transaction: no database lock is held across network I/O.
    since = (started_at or now) - timedelta(minutes=5)
    # Match on what was actually handed over (stored with the `sending` row), not on a re-rendering: a
    # template edited since then would not match a message the provider did accept.
    sent = replace(message, body=sent_body or message.body, to=sent_to or message.to)
    found: SendResult | None = None
    problem: DeliveryError | None = None
    try:
        found = channel.find_sent(sent, since=since)
    except DeliveryError as exc:
        problem = exc
    if found is None and problem is None:
        return Outcome("absent", "the provider does not have it")
    with unit_of_work(engine) as session:
        if not renew_claim(session, request_id=request_id, token=claim_token, now=renew_at):
            return Outcome("lost", "the claim was taken over by another worker after its lease ran out")
        delivery = delivery_for(session, key=message.idempotency_key)
        if delivery is None:
            return Outcome("unknown", "the delivery changed while it was being checked")
        if delivery.status == "failed":
            return Outcome("failed", delivery.error_message)
        if delivery.status not in ("sending", "unknown"):
            return Outcome("sent", "already sent")
        if found is not None:
            _mark_sent(delivery, found, now)
            return Outcome("sent", "reconciled: the provider had it")
        delivery.status = "unknown"
        delivery.error_message = f"reconciliation failed: {problem}"
    return Outcome("unknown", "could not reconcile with the provider yet")


def _mark_sent(delivery: Delivery, result: SendResult, now: datetime) -> None:
    delivery.status = "sent"
    delivery.provider = (result.provider or delivery.provider)[:16]
    delivery.provider_message_id = result.provider_message_id
    delivery.sent_at = now
    delivery.error_code = None
    delivery.error_message = None


def _finish_delivery(engine: Engine, key: str, *, status: str, error: BaseException) -> None:
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=key)
        if delivery is not None:
            delivery.status = status
            delivery.error_code = getattr(error, "code", None)
            delivery.error_message = str(error)[:1000]


# -- delivery receipts: what the provider reports after the send -------------------------------------------

# Twilio's MessageStatus values a delivery records (others, like queued/sending, change nothing).
_RECEIPT_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "delivered",
}
_FINAL_RECEIPTS = frozenset({"delivered", "undelivered", "failed"})
_RANK = {"pending": 0, "sending": 1, "unknown": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}


def record_receipt(session: Session, *, provider_message_id: str, status: str, error_code: str | None = None) -> bool:
    """Apply a delivery receipt (Twilio's MessageStatus and ErrorCode) to the Delivery with that provider id.

    Records sent, delivered, undelivered and failed ("read" counts as delivered); other statuses change
    nothing. A final status (delivered, undelivered, failed) is never replaced, and a status never moves
    backwards (a late "sent" after "delivered" is ignored). True when the row changed.
    """
    new_status = _RECEIPT_STATUSES.get(status.strip().lower())
    if new_status is None:
        return False
    delivery = session.scalars(
        select(Delivery).where(Delivery.provider_message_id == provider_message_id).limit(1)
    ).first()
    if delivery is None:
        return False
    if delivery.status in _FINAL_RECEIPTS or _RANK.get(delivery.status, 0) >= _RANK[new_status]:
        return False
    # A conditional UPDATE, so two receipts racing each other cannot both win.
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == delivery.status)
        .values(
            status=new_status,
            error_code=error_code or delivery.error_code,
            sent_at=delivery.sent_at or (utcnow() if new_status == "sent" else None),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
