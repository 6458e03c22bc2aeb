"""Which channels a request goes out on, and why not the others: one function for planning, sending and
the preview alike. SMS needs an E.164 phone with smsAllowed and no STOP on file; email needs an address
that did not unsubscribe. Opt-outs are facts the caller looked up (tasks.reviews.loader)."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.settings import ChannelMode, ReviewSettings


@dataclass(frozen=True)
class ChannelChoice:
    """The channels to use, why the others cannot be, and whether email backs up a failed SMS."""

    channels: tuple[str, ...]
    problems: tuple[str, ...] = ()
    email_fallback: bool = False  # sms_then_email: email is usable, so a permanently failed SMS goes by email

    @property
    def why_not(self) -> str | None:
        return "; ".join(self.problems) or None


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


def pick(mode: ChannelMode, *, sms_ok: bool, email_ok: bool) -> tuple[str, ...]:
    """The channels to use given what is usable: sms_then_email falls back to email only without SMS."""
    if mode == "sms":
        return ("sms",) if sms_ok else ()
    if mode == "email":
        return ("email",) if email_ok else ()
    if mode == "both":
        return tuple(c for c, ok in (("sms", sms_ok), ("email", email_ok)) if ok)
    return ("sms",) if sms_ok else (("email",) if email_ok else ())


def choose_channels(
    context: ReviewContext,
    settings: ReviewSettings,
    *,
    sms_opted_out: bool = False,
    email_opted_out: bool = False,
    at_send: bool = False,
) -> ChannelChoice:
    """The channels usable for `context` under `settings` (consent, address, opt-outs), or why none is.
    `at_send`: the re-check just before sending (an opt-out since planning says so in its reason)."""
    when = " before sending" if at_send else ""
    problems: list[str] = []
    sms_ok = email_ok = False
    if settings.sends_sms:
        problem = sms_problem(context) or (f"opted out of SMS (STOP){when}" if sms_opted_out else None)
        sms_ok = problem is None
        problems += [problem] if problem else []
    if settings.sends_email:
        problem = email_problem(context) or (f"unsubscribed from email{when}" if email_opted_out else None)
        email_ok = problem is None
        problems += [problem] if problem else []
    channels = pick(settings.channels, sms_ok=sms_ok, email_ok=email_ok)
    fallback = settings.channels == "sms_then_email" and email_ok and channels == ("sms",)
    return ChannelChoice(channels, tuple(problems), fallback)
