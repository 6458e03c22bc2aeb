"""The facts the review rules decide on, gathered from the database in the caller's session.

The rules (tasks/reviews/rules/) never touch the database: planning asks `client_facts` (a request to
the same client within the cooldown, opt-outs), the re-check before sending asks `opt_outs` again (a STOP
since planning counts), and both hand the answers to the same pure functions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tasks.reviews.ledger import recent_request_for_client
from tasks.reviews.rules.eligibility import ClientFacts, RecentRequest
from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.settings import ReviewSettings
from tasks.store.optouts import is_suppressed


def opt_outs(session: Session, settings: ReviewSettings, *, phone: str | None, email: str | None) -> tuple[bool, bool]:
    """(the phone sent STOP, the email unsubscribed), asked only for the channels the settings use."""
    sms = bool(settings.sends_sms and phone and is_suppressed(session, channel="sms", address=phone))
    mail = bool(settings.sends_email and email and is_suppressed(session, channel="email", address=email))
    return sms, mail


def client_facts(
    session: Session, context: ReviewContext, settings: ReviewSettings, *, account_key: str, now: datetime
) -> ClientFacts:
    """What planning decides on besides the job: the cooldown's recent request and the client's opt-outs."""
    recent = None
    if settings.cooldown_days > 0:
        row = recent_request_for_client(
            session,
            account_key=account_key,
            since=now - timedelta(days=settings.cooldown_days),
            exclude_job_id=context.job_id,
            client_id=context.client_id,
            phone=context.phone,
            email=context.email.lower() if context.email else None,
        )
        recent = RecentRequest(row.job_id, row.job_number) if row is not None else None
    sms, mail = opt_outs(session, settings, phone=context.phone, email=context.email)
    return ClientFacts(recent=recent, sms_opted_out=sms, email_opted_out=mail)
