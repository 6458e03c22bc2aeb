"""May this client be asked for a review now, and on which channels? Every "no" carries its reason.

Checked in this order: excluded tag, archived client, Jobber's own "allow review request" switch, minimum
total, cooldown per client, then the channels: SMS needs an E.164 phone with smsAllowed and no STOP on
file; email needs an address that did not unsubscribe. "Already requested for this job" is the unique
row itself (tasks.reviews.records).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tasks.reviews.mapping import ReviewContext
from tasks.reviews.records import recent_request_for_client
from tasks.reviews.settings import ChannelMode, ReviewSettings
from tasks.store.optouts import is_suppressed


@dataclass(frozen=True)
class Eligibility:
    channels: tuple[str, ...]
    reason: str | None = None

    @property
    def eligible(self) -> bool:
        return bool(self.channels)


def sms_problem(context: ReviewContext) -> str | None:
    """Why this client cannot be texted, or None."""
    if not context.phone_raw:
        return "no phone number"
    if not context.phone:
        return f"phone number {context.phone_raw!r} is not a valid mobile number"
    if context.sms_allowed is not True:
        return "smsAllowed is false for the client's phone (no consent to texts)"
    return None


def email_problem(context: ReviewContext) -> str | None:
    return None if context.email else "no email address"


def choose_channels(mode: ChannelMode, *, sms_ok: bool, email_ok: bool) -> tuple[str, ...]:
    """The channels to use given what is usable: sms_then_email falls back to email only without SMS."""
    if mode == "sms":
        return ("sms",) if sms_ok else ()
    if mode == "email":
        return ("email",) if email_ok else ()
    if mode == "both":
        return tuple(c for c, ok in (("sms", sms_ok), ("email", email_ok)) if ok)
    return ("sms",) if sms_ok else (("email",) if email_ok else ())


def usable_channels(session: Session, context: ReviewContext, settings: ReviewSettings) -> Eligibility:
    """Channels usable right now (consent, address, suppression list), or why none is."""
    problems: list[str] = []
    sms_ok = False
    if settings.sends_sms:
        problem = sms_problem(context)
        if problem is None and context.phone and is_suppressed(session, channel="sms", address=context.phone):
            problem = "opted out of SMS (STOP)"
        sms_ok = problem is None
        if problem:
            problems.append(problem)
    email_ok = False
    if settings.sends_email:
        problem = email_problem(context)
        if problem is None and context.email and is_suppressed(session, channel="email", address=context.email):
            problem = "unsubscribed from email"
        email_ok = problem is None
        if problem:
            problems.append(problem)
    channels = choose_channels(settings.channels, sms_ok=sms_ok, email_ok=email_ok)
    if channels:
        return Eligibility(channels)
    return Eligibility((), "no usable contact: " + "; ".join(problems))


def assess(
    session: Session, context: ReviewContext, settings: ReviewSettings, *, account_key: str, now: datetime
) -> Eligibility:
    """Whether to plan a request for this job, and on which channels."""
    tag = (settings.exclude_tag or "").casefold()
    if tag and any(t.casefold() == tag for t in context.client_tags):
        return Eligibility((), f"client has the tag {settings.exclude_tag!r}")
    if settings.exclude_archived_clients and context.client_archived:
        return Eligibility((), "client is archived")
    if settings.respect_jobber_review_flag and context.allow_review_request is False:
        return Eligibility((), "review requests are turned off for this job in Jobber")
    if settings.minimum_total > 0:
        total = context.total
        if total is None or total < settings.minimum_total:
            shown = "unknown" if total is None else f"{total:.2f}"
            return Eligibility((), f"total {shown} is below the minimum {settings.minimum_total:.2f}")
    if settings.cooldown_days > 0:
        recent = recent_request_for_client(
            session,
            account_key=account_key,
            since=now - timedelta(days=settings.cooldown_days),
            exclude_job_id=context.job_id,
            client_id=context.client_id,
            phone=context.phone,
            email=context.email.lower() if context.email else None,
        )
        if recent is not None:
            number = f"#{recent.job_number}" if recent.job_number is not None else recent.job_id
            return Eligibility((), f"client in cooldown: asked for job {number} within {settings.cooldown_days} days")
    return usable_channels(session, context, settings)
