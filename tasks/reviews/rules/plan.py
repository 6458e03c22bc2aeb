"""The planning decision for one job, from the facts: planned (when, on which channels), or skipped with
the reason (not eligible, a template problem, a dry run). Pure: the use-case (tasks/reviews/usecases/
plan.py) loads the facts before and records the outcome after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tasks.errors import ReviewTemplateError
from tasks.reviews.rules.eligibility import ClientFacts, assess
from tasks.reviews.rules.mapping import ReviewContext
from tasks.reviews.rules.rendering import Branding, render_messages
from tasks.reviews.rules.timing import send_time
from tasks.reviews.settings import ReviewSettings


@dataclass(frozen=True)
class PlanOutcome:
    status: str  # planned | skipped
    reason: str | None
    channels: tuple[str, ...]
    planned_at: datetime | None
    dry_run: dict[str, Any] | None = None  # what a dry run would have sent

    @property
    def channel(self) -> str | None:
        """The row's channel column: the one channel, "both", or None."""
        if not self.channels:
            return None
        return self.channels[0] if len(self.channels) == 1 else "both"


def decide_plan(
    context: ReviewContext,
    settings: ReviewSettings,
    branding: Branding,
    facts: ClientFacts,
    *,
    zone: ZoneInfo,
    trigger_at: datetime,
    now: datetime,
    token: str,
) -> PlanOutcome:
    """Eligibility, then the send time, then a rendering check (a broken template is found at planning)."""
    verdict = assess(context, settings, facts)
    if not verdict.eligible:
        return PlanOutcome("skipped", verdict.reason, verdict.channels, None)
    planned_at = send_time(settings, verdict.channels, trigger_at=trigger_at, now=now, zone=zone)
    try:
        rendered = render_messages(context, settings, branding, token=token, channels=verdict.channels)
    except ReviewTemplateError as exc:
        return PlanOutcome("skipped", f"template problem: {exc}", verdict.channels, planned_at)
    if not settings.dry_run:
        return PlanOutcome("planned", None, verdict.channels, planned_at)
    return PlanOutcome(
        "skipped",
        f"dry run: would send by {'+'.join(verdict.channels)}; nothing sent",
        verdict.channels,
        planned_at,
        dry_run={
            "sms": rendered.sms.body if rendered.sms else None,
            "email_subject": rendered.email.subject if rendered.email else None,
            "email_text": rendered.email.text if rendered.email else None,
        },
    )
