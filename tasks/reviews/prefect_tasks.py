"""Thin Prefect tasks over the review-request functions: build the client, engine and channels, make one call."""

from __future__ import annotations

import logging
from datetime import timedelta

from prefect import task
from sqlalchemy import Engine

from tasks.errors import ConfigurationError
from tasks.jobber.client import JobberClient
from tasks.retry import transient_retries
from tasks.reviews.decision import Decision
from tasks.reviews.rules.rendering import branding_for
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.plan import plan_from_event
from tasks.reviews.usecases.poll import PollResult, poll_and_plan
from tasks.reviews.usecases.send import Channels, DispatchResult, dispatch_due, sender_defaults

log = logging.getLogger(__name__)


def _engine() -> Engine:
    from tasks.store.db import get_engine

    return get_engine()


def _jobber() -> JobberClient:
    from tasks.jobber.factory import get_jobber_client

    return get_jobber_client()


def _channels() -> Channels:
    from tasks.delivery.factory import get_email_channel, get_sms_channel

    return Channels(sms=get_sms_channel(), email=get_email_channel())


@task(
    name="review-plan-event",
    task_run_name="plan review request: {topic} {item_id}",
    **transient_retries(5, 30, 120),
)
def plan_event_task(topic: str, item_id: str, settings: ReviewSettings, occurred_at: str | None = None) -> Decision:
    """Fetch what a Jobber event names, match the trigger and record the decision (idempotent: safe to retry)."""
    from tasks.settings import get_settings

    return plan_from_event(
        _jobber(),
        _engine(),
        topic=topic,
        item_id=item_id,
        occurred_at=occurred_at,
        settings=settings,
        branding=branding_for(settings, get_settings()),
    )


@task(name="poll-jobber-for-reviews", task_run_name="poll Jobber for {settings.trigger}")
def poll_task(settings: ReviewSettings, initial_lookback_hours: int = 24) -> PollResult:
    """Plan requests for whatever the trigger matched since the last poll (the webhook fallback)."""
    from tasks.settings import get_settings

    return poll_and_plan(
        _jobber(),
        _engine(),
        settings=settings,
        branding=branding_for(settings, get_settings()),
        initial_lookback=timedelta(hours=initial_lookback_hours),
    )


@task(name="send-due-review-requests", task_run_name="send due review requests")
def dispatch_task(limit: int = 5000, concurrency: int = 8) -> DispatchResult:
    """Send every due review request and follow-up (claims make concurrent runs safe)."""
    from tasks.settings import get_settings

    try:
        jobber: JobberClient | None = _jobber()
    except ConfigurationError as exc:
        # Without Jobber only Make.com requests exist; they have nothing to re-check.
        log.warning("Jobber is not configured (%s); sending without re-checking jobs", exc.variable)
        jobber = None
    return dispatch_due(
        _engine(),
        channels=_channels(),
        jobber=jobber,
        defaults=sender_defaults(get_settings()),
        limit=limit,
        concurrency=concurrency,
    )
