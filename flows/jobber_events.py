"""The event path in Prefect: one background task run per wake-up, one scheduled sweep. Logic: tasks/events/.

- `handle_jobber_events`: a background task (`prefect.task_worker`), run by `jobberflow worker`. The
  gateway's relay submits it (`handle_jobber_events.delay()`) when webhooks that cause work arrive: one
  task run per wake-up, never one per webhook. It takes no parameters: it claims every pending event in
  the inbox, refreshes, plans review requests, queues Slack, sends what is due now, and names itself and
  leaves a table (one row per event) after what it did. Background tasks start in a long-lived worker
  (tenths of a second), where a deployment run starts a new process (seconds): the instant path is this.
- `jobber_events`: the `jobber-events` deployment. Its `settings` parameter is where Prefect holds the
  contractor's review settings, the one store every reader uses (tasks/reviews/settings_source.py: an edit
  in the Prefect UI reaches the task runs within 30 s), and its schedule sweeps up what a lost wake-up left
  behind.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from tasks.events.handler import Context, DrainResult, drain
from tasks.reviews.settings import ReviewSettings

log = logging.getLogger(__name__)


def build_context(review: ReviewSettings | None) -> Context:
    """The event handler's outside world, from the environment's settings (lazily: nothing at import)."""
    from tasks.delivery.factory import get_email_channel, get_sms_channel
    from tasks.jobber.factory import get_jobber_client
    from tasks.reviews.rules.rendering import Branding, branding_for
    from tasks.reviews.usecases.send import Channels, sender_defaults
    from tasks.settings import get_settings
    from tasks.slack.factory import build_slack_sender
    from tasks.slack.routing import routes_from_settings
    from tasks.store.db import get_engine
    from tasks.store.migrate import require_current_schema

    app = get_settings()
    require_current_schema(app.resolved_database_url)  # one SELECT per process; never migrates
    branding = (
        branding_for(review, app)
        if review is not None
        else Branding(app.public_url, app.business_name, app.business_postal_address)
    )
    return Context(
        engine=get_engine(app.resolved_database_url),
        jobber=get_jobber_client(),
        review=review,
        branding=branding,
        routes=routes_from_settings(app),
        channels=Channels(sms=get_sms_channel(app), email=get_email_channel(app)),
        sender_defaults=sender_defaults(app),
        slack_sender=build_slack_sender(app),
    )


def _report(result: DrainResult, *, key: str) -> None:
    rows = [o.row() for o in result.outcomes] or [{"status": "nothing pending"}]
    sent_elsewhere = [d for d in result.decisions if d.request_id not in {o.request_id for o in result.outcomes}]
    rows += [
        {
            "event": "",
            "topic": "due request",
            "item": d.job,
            "refresh": "",
            "review request": d.status,
            "slack": "",
            "status": d.reason or "",
        }
        for d in sent_elsewhere
    ]
    description = (
        f"{result.run_name()} ({result.batches} batch(es), {result.fetches} Jobber fetch(es)"
        f"{', ' + result.stopped if result.stopped else ''})"
    )
    create_table_artifact(key=key, table=rows, description=description)


def _rename_task_run(name: str) -> None:
    """Name the running task run after what it did. Task runs are recorded from their state events, so the
    name is changed where the engine reads it for the final event too, not only through the API."""
    from prefect.client.orchestration import get_client
    from prefect.context import TaskRunContext
    from prefect.runtime import task_run

    run_id = task_run.get_id()
    if not run_id:
        return
    context = TaskRunContext.get()
    if context is not None:
        context.task_run.name = name[:200]
    try:
        with get_client(sync_client=True) as client:
            client.set_task_run_name(run_id, name[:200])  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a cosmetic rename must not fail the work
        log.info("Could not rename the task run: %s", type(exc).__name__)


@task(name="handle-jobber-events", task_run_name="jobber events", retries=0)
def handle_jobber_events() -> dict[str, int]:
    """Do the work of every pending Jobber event (the inbox says which); see tasks/events/handler.py."""
    from tasks.reviews.settings_source import review_settings

    result = drain(build_context(review_settings()))
    _rename_task_run(result.run_name())
    if result.outcomes or result.decisions:
        _report(result, key="jobber-events")
    get_run_logger().info("%s", result.run_name())
    return {"events": len(result.outcomes), "sent": sum(1 for d in result.decisions if d.status == "sent")}


def serve_event_worker(*, limit: int = 2) -> None:
    """`jobberflow worker`: migrate (process start), then serve `handle_jobber_events` until stopped (several
    may run); its task runs only check the schema."""
    from prefect.task_worker import serve

    from tasks.store.migrate import upgrade_database

    upgrade_database()
    serve(handle_jobber_events, limit=limit)


@flow(name="jobber-events", flow_run_name="jobber events: sweep")
def jobber_events(settings: ReviewSettings, stale_after_seconds: int = 60, budget_seconds: int = 240) -> int:
    """The scheduled sweep: handle the events still pending after `stale_after_seconds` (a wake-up Prefect
    dropped, no event worker running). Its `settings` are the review settings the event worker uses too."""
    from flows.review_request import _rename_run

    result = drain(
        build_context(settings), older_than=timedelta(seconds=stale_after_seconds), budget_s=float(budget_seconds)
    )
    name = result.run_name().replace("jobber events:", "jobber events sweep:", 1)
    _rename_run(name)
    if result.outcomes or result.decisions:
        _report(result, key="jobber-events-sweep")
    return len(result.outcomes)
