"""Thin Prefect tasks over the Slack functions: build what they need from the factories, make one call."""

from __future__ import annotations

from prefect import task

from tasks.retry import transient_retries
from tasks.slack.dispatch import ChannelPacer, DispatchResult, dispatch_pending
from tasks.slack.notify import NotifyOutcome, notify_event


@task(
    name="slack-notification",
    task_run_name="slack notification for {topic} {item_id}",
    **transient_retries(5, 30, 120),  # Jobber down or throttled; a gone record or bad config will not heal
)
def notify_event_task(
    topic: str, item_id: str, account_id: str | None = None, occurred_at: str | None = None
) -> NotifyOutcome:
    """Refetch the item, render its message and queue it in the outbox (deduplicated, so safe to retry)."""
    from tasks.jobber.factory import get_jobber_client
    from tasks.settings import get_settings
    from tasks.slack.routing import routes_from_settings
    from tasks.store.db import get_engine

    settings = get_settings()
    return notify_event(
        get_engine(settings.resolved_database_url),
        routes_from_settings(settings),
        topic=topic,
        item_id=item_id,
        account_id=account_id,
        occurred_at=occurred_at,
        jobber=get_jobber_client,
    )


@task(name="post-slack-notifications", task_run_name="post pending Slack notifications")
def dispatch_task(limit: int = 200, budget_s: float = 50.0, min_interval_s: float = 1.0) -> DispatchResult:
    """Post due outbox rows at Slack's pace; failures are recorded on the rows, so this task never retries."""
    from tasks.settings import get_settings
    from tasks.slack.factory import build_slack_sender
    from tasks.store.db import get_engine

    settings = get_settings()
    return dispatch_pending(
        get_engine(settings.resolved_database_url),
        build_slack_sender(settings),
        pacer=ChannelPacer(min_interval_s=min_interval_s),
        limit=limit,
        budget_s=budget_s,
    )
