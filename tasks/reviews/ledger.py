"""Review-request rows: create once per (account, job), claim before sending, release after.

Keyword-only functions that take the caller's session. The state machine:

    planned --claim--> claimed --> sent | failed | skipped | cancelled
       ^                  |
       +---- retry -------+   (a transient error or an unknown outcome: planned again, later)

A follow-up claims a `sent` row the same way and puts it back to `sent`. A claim is one conditional
UPDATE (status and due time in the WHERE clause, a fresh claim token in SET): of any number of workers
racing for a row, exactly one sees rowcount 1. A claim older than the lease (a worker killed mid-send)
may be taken over; its half-done delivery is then reconciled with the provider before anything is re-sent.
The claim is a fencing token: a worker renews it (`renew_claim`, conditional on its token) in the
transaction that writes its delivery row, so a worker that stalled past the lease and lost the request
to another finds no row to renew and never calls the provider.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tasks.store.lease import LeaseQueue
from tasks.store.models import Delivery, ReviewRequest

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
