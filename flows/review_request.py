"""Flows: review requests. Orchestration only: the logic is in tasks/reviews/.

- `review_request`: triggered by a Jobber event (jobber.job.closed, jobber.visit.complete, ...). Plans the
  request for the contractor's trigger and, when it is due now (delay 0), sends it and whatever else is due.
- `review_poll`: the scheduled fallback for missed webhooks; plans through the same dedupe.
- `review_dispatch`: every minute, sends every due request and follow-up in one run (a burst of 1,000
  closed jobs is drained here, not by 1,000 runs).

Each run is renamed after what it did and leaves a table artifact of every decision.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.reviews.decision import Decision
from tasks.reviews.prefect_tasks import dispatch_task, plan_event_task, poll_task
from tasks.reviews.settings import ReviewSettings
from tasks.store.migrate import require_current_schema


def _rename_run(name: str) -> None:
    """Give the running flow run a name that says what happened (best effort: never fails the run)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if not run_id:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id=run_id, name=name[:200])  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a cosmetic rename must not fail a send
        get_run_logger().info("Could not rename the flow run: %s", type(exc).__name__)


def _artifact(key: str, decisions: list[Decision], description: str) -> None:
    rows = [d.row() for d in decisions] or [{"status": "nothing to do"}]
    create_table_artifact(key=key, table=rows, description=description)


def run_name(decision: Decision) -> str:
    """ "review request: job #1042 Water Heater Installation -> John S. (sent)" """
    who = f" -> {decision.client}" if decision.client else ""
    return f"review request: {decision.job}{who} ({decision.status})"


@flow(name="review-request", flow_run_name="review request: {topic} {item_id}")
def review_request(
    topic: str,
    item_id: str,
    settings: ReviewSettings,
    account_id: str | None = None,
    occurred_at: str | None = None,
    send_when_due: bool = True,
) -> str:
    """A Jobber event -> one review request planned (or skipped with its reason) and, if due now, sent."""
    require_current_schema()
    logger = get_run_logger()
    decision = plan_event_task(topic, item_id, settings, occurred_at)
    decisions = [decision]
    final = decision
    due_now = decision.planned_at is not None and decision.planned_at <= datetime.now(UTC)
    if send_when_due and decision.status == "planned" and due_now:
        result = dispatch_task()
        decisions += result.decisions
        final = next((d for d in result.decisions if d.request_id == decision.request_id), decision)
    _rename_run(run_name(final))
    _artifact("review-request-decisions", decisions, f"{topic} {item_id}: {final.status}")
    logger.info("%s: %s%s", final.job, final.status, f" ({final.reason})" if final.reason else "")
    return final.status


@flow(name="review-poll", flow_run_name="review poll")
def review_poll(settings: ReviewSettings | None = None, initial_lookback_hours: int = 24) -> int:
    """Scheduled fallback: plan requests for what the trigger matched since the last poll. Returns how many
    new requests were planned. `settings` default to the contractor's (the jobber-events deployment's in
    Prefect, tasks/reviews/settings_source.py); pass them only for a one-off run."""
    require_current_schema()
    if settings is None:
        from tasks.reviews.settings_source import review_settings

        settings = review_settings()
        if settings is None:
            raise LookupError("no review settings: the jobber-events deployment (and prefect.yaml) has none")
    result = poll_task(settings, initial_lookback_hours)
    planned = sum(1 for d in result.decisions if d.status == "planned")
    stopped = f" ({result.stopped})" if result.stopped else ""
    _rename_run(f"review poll: {settings.trigger}: {result.examined} examined, {planned} planned{stopped}")
    if result.stopped:
        get_run_logger().warning("Poll stopped early: %s", result.stopped)
    _artifact("review-poll-decisions", result.decisions, f"since {result.since:%Y-%m-%d %H:%M} UTC")
    return planned


@flow(name="review-dispatch", flow_run_name="review dispatch")
def review_dispatch(limit: int = 5000, concurrency: int = 8) -> dict[str, int]:
    """Every minute: send every due review request and follow-up, in one run."""
    require_current_schema()
    result = dispatch_task(limit, concurrency)
    summary = result.summary
    text = ", ".join(f"{n} {status}" for status, n in sorted(summary.items())) or "nothing due"
    _rename_run(f"review dispatch: {text}")
    if result.decisions:
        _artifact("review-dispatch-decisions", result.decisions, text)
    return summary
