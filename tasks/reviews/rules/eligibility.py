"""May this client be asked for a review now, and on which channels? Every "no" carries its reason.

Checked in this order: excluded tag, archived client, Jobber's own "allow review request" switch, minimum
total, cooldown per client, then the channels (tasks.reviews.rules.channels). A pure function of the
job's context, the settings and the facts the loader gathered (tasks.reviews.loader): the recent request
to the same client, the opt-outs. "Already requested for this job" is the unique row itself (the ledger).
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.reviews.rules.channels import choose_channels
from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.settings import ReviewSettings


@dataclass(frozen=True)
class RecentRequest:
    """A request to the same client within the cooldown (the job it was for)."""

    job_id: str
    job_number: int | None


@dataclass(frozen=True)
class ClientFacts:
    """What the database knows about the client: a request within the cooldown, and opt-outs."""

    recent: RecentRequest | None = None
    sms_opted_out: bool = False
    email_opted_out: bool = False


@dataclass(frozen=True)
class Eligibility:
    channels: tuple[str, ...]
    reason: str | None = None

    @property
    def eligible(self) -> bool:
        return bool(self.channels)


def assess(context: ReviewContext, settings: ReviewSettings, facts: ClientFacts) -> Eligibility:
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
    if settings.cooldown_days > 0 and facts.recent is not None:
        recent = facts.recent
        number = f"#{recent.job_number}" if recent.job_number is not None else recent.job_id
        return Eligibility((), f"client in cooldown: asked for job {number} within {settings.cooldown_days} days")
    choice = choose_channels(
        context, settings, sms_opted_out=facts.sms_opted_out, email_opted_out=facts.email_opted_out
    )
    if choice.channels:
        return Eligibility(choice.channels)
    return Eligibility((), "no usable contact: " + "; ".join(choice.problems))
