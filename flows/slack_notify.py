"""Flows: Slack notifications for Jobber events, and the dispatcher that drains the Slack outbox.
Orchestration only: the logic is in tasks/slack/."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.slack.dispatch import DispatchResult
from tasks.slack.notify import NotifyOutcome
from tasks.slack.prefect_tasks import dispatch_task, notify_event_task
from tasks.store.migrate import require_current_schema


def dispatch_rows(result: DispatchResult) -> list[dict[str, Any]]:
    return [
        {"outbox_id": r.outbox_id, "kind": r.kind, "channel": r.channel, "outcome": r.outcome, "error": r.error or ""}
        for r in result.rows
    ]


@flow(name="slack-notify", flow_run_name="slack: {topic} {item_id}")
def slack_notify(
    topic: str,
    item_id: str,
    account_id: str | None = None,
    occurred_at: str | None = None,
    dispatch: bool = True,
) -> NotifyOutcome:
    """Triggered by a Jobber event (`jobber.job.closed`, ...) or `jobberflow.review.failed`: queue the Slack
    notification in the outbox (once per event), then post whatever is due, this one included. If Slack is
    down the notification stays queued and `slack-dispatch` posts it later."""
    require_current_schema()
    outcome = notify_event_task(topic, item_id, account_id, occurred_at)
    logger = get_run_logger()
    logger.info("%s %s: %s %s %s", topic, item_id, outcome.kind or "-", outcome.status, outcome.reason)
    rows = [outcome.as_row()]
    if dispatch:
        result = dispatch_task()
        rows += [
            {
                "topic": "dispatch",
                "item": r["outbox_id"],
                "kind": r["kind"],
                "status": r["outcome"],
                "channel": r["channel"],
                "about": "",
                "why": r["error"],
            }
            for r in dispatch_rows(result)
        ]
        if result.stopped:
            logger.warning("dispatch stopped: %s", result.stopped)
    create_table_artifact(key="slack-notify", table=rows, description=f"Slack: {topic} {item_id} -> {outcome.status}")
    return outcome


@flow(name="slack-dispatch", flow_run_name="slack dispatch")
def slack_dispatch(limit: int = 200, budget_seconds: float = 50.0, min_interval_seconds: float = 1.0) -> DispatchResult:
    """Every minute: post the Slack outbox's due notifications (at most one per second per channel), defer
    them through an outage and mark the ones Slack refuses for good as failed."""
    require_current_schema()
    result = dispatch_task(limit=limit, budget_s=budget_seconds, min_interval_s=min_interval_seconds)
    counts = result.counts
    description = (
        f"sent {result.sent}, failed {result.failed}, deferred {result.deferred}; "
        f"outbox: {counts.pending} pending, {counts.sent} sent, {counts.failed} failed"
    )
    if result.rows:
        create_table_artifact(key="slack-dispatch", table=dispatch_rows(result), description=description)
    get_run_logger().info("%s%s", description, f" ({result.stopped})" if result.stopped else "")
    return result
