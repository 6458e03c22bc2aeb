"""The polling fallback: find what the trigger should have fired on since the last poll, plan it.

Webhooks can be missed (the app's webhooks disabled, the gateway down longer than Jobber retries). Every
few minutes this reads what changed since a watermark (`poll_watermarks`, per account and trigger) and
plans each match through the same dedupe as the webhook path, so a job seen by both gets one request.

- job_closed: jobs sorted by UPDATED_AT descending with jobStatus archived (Jobs have no updatedAt filter),
  stopping at the watermark.
- visit_completed: jobs updated since the watermark whose visits include one completed since then.
- invoice_created / invoice_paid: invoices filtered by updatedAt (and status paid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tasks.errors import JobberRateLimited, JobberTransportError
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.jobber.models import Invoice, Job
from tasks.reviews.decision import Decision
from tasks.reviews.jobber import account_key_of, business_zone_of
from tasks.reviews.rules.rendering import Branding
from tasks.reviews.rules.triggers import match_invoice, match_job, match_visit
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.plan import plan_request
from tasks.store.accounts import as_utc
from tasks.store.db import unit_of_work
from tasks.store.models import PollWatermark

# Page sizes that keep one page well under Jobber's 10,000-point query limit (a job with its client,
# visits and technicians costs about 125 points requested; an invoice with two jobs about 280).
JOB_PAGE = 40
INVOICE_PAGE = 20
OVERLAP = timedelta(minutes=5)  # re-read a little before the watermark: clocks and commits are not exact

# When the poll gives way to the event path (both spend the same Jobber budget). Under steady webhook load
# a few rows are always pending, taken by the worker within seconds: that is not a backlog, and yielding to
# it starved the poll for 45 minutes in the chaos soak (docs/benchmarks.md). A backlog is more rows than the
# worker claims in one batch (tasks/events/queue.py claim limit), or a row claimable for longer than the
# instant path takes to pick one up (seconds; a relayed wake-up or the drain within a minute or two).
BACKLOG_ROWS = 200
BACKLOG_AGE = timedelta(minutes=2)
# However long the backlog lasts, the poll is never put off longer than this since its last completed pass
# (or since it was first put off): on the 10-minute schedule, one skipped turn at most. It then runs paced
# by the Jobber budget like any other caller, so missed webhooks wait minutes, not until the load stops.
MAX_PUT_OFF = timedelta(minutes=15)


@dataclass
class PollResult:
    since: datetime
    watermark: datetime
    examined: int = 0
    decisions: list[Decision] = field(default_factory=list)
    stopped: str = ""  # why the poll ended early (Jobber busy or unreachable): the watermark stayed put
    newest: list[datetime] = field(default_factory=list)  # updatedAt of the items read


def _watermark(engine: Engine, account_key: str, trigger: str) -> datetime | None:
    with unit_of_work(engine) as session:
        row = session.get(PollWatermark, (account_key, trigger))
        return as_utc(row.watermark) if row is not None else None


def _save_watermark(engine: Engine, account_key: str, trigger: str, value: datetime, now: datetime) -> None:
    """Move the watermark forward and stamp the completed pass (`updated_at`, which bounds how long the
    next polls may be put off, even when nothing changed)."""
    with unit_of_work(engine) as session:
        row = session.get(PollWatermark, (account_key, trigger))
        if row is None:
            session.add(PollWatermark(account_key=account_key, trigger=trigger, watermark=value, updated_at=now))
            return
        if as_utc(row.watermark) is None or value > (as_utc(row.watermark) or value):
            row.watermark = value
        row.updated_at = now


def _candidates(client: JobberClient, settings: ReviewSettings, since: datetime) -> list[tuple[Any, datetime | None]]:
    """(match, the node's updatedAt) for every item changed since `since` that may start the trigger."""
    found: list[tuple[Any, datetime | None]] = []
    if settings.trigger in ("job_closed", "visit_completed"):
        variables: dict[str, Any] = {"filter": {"status": "archived"}} if settings.trigger == "job_closed" else {}
        for node in client.paginate(load_document("reviews/poll_jobs"), variables, path=["jobs"], page_size=JOB_PAGE):
            job = Job.of(node)
            if job.updated_at is not None and job.updated_at < since:
                break  # sorted by UPDATED_AT descending: everything after this is older
            if settings.trigger == "job_closed":
                found.append((match_job(job, occurred_at=None), job.updated_at))
                continue
            for visit in job.visits:
                if visit.completed_at is not None and visit.completed_at >= since:
                    match = match_visit(visit.model_copy(update={"job": job}), occurred_at=None)
                    found.append((match, job.updated_at))
                    break  # one visit is enough: the request is per job
        return found
    invoice_filter: dict[str, Any] = {"updatedAt": {"after": since.isoformat()}}
    if settings.trigger == "invoice_paid":
        invoice_filter["status"] = "paid"
    for node in client.paginate(
        load_document("reviews/poll_invoices"), {"filter": invoice_filter}, path=["invoices"], page_size=INVOICE_PAGE
    ):
        invoice = Invoice.of(node)
        if settings.trigger == "invoice_created" and invoice.created_at is not None and invoice.created_at < since:
            continue
        match = match_invoice(invoice, trigger=settings.trigger, occurred_at=invoice.updated_at)
        found.append((match, invoice.updated_at))
    return found


def poll_and_plan(
    client: JobberClient,
    engine: Engine,
    *,
    settings: ReviewSettings,
    branding: Branding,
    initial_lookback: timedelta = timedelta(hours=24),
    now: datetime | None = None,
    defer_to_events: bool = True,
) -> PollResult:
    """Plan a request for every item the trigger matches since the watermark, then move the watermark.

    When Jobber is busy (THROTTLED, 429) or unreachable, the poll stops where it is, keeps the watermark
    (items are read newest first, so a partial read proves nothing about older ones) and says why in
    `stopped`: the next poll reads the same window again, and the dedupe makes that harmless."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    account_key = account_key_of(client)
    mark = _watermark(engine, account_key, settings.trigger)
    since = (mark - OVERLAP) if mark is not None else now - initial_lookback
    result = PollResult(since=since, watermark=mark or since)
    newest = mark or since
    if defer_to_events and _put_off(engine, account_key, settings.trigger, now):
        result.stopped = "webhooks are being handled right now; the poll waits for the next turn (same window)"
        return result
    try:
        _plan_candidates(client, engine, settings, branding, account_key, since, now, result)
    except (JobberRateLimited, JobberTransportError) as exc:
        result.stopped = f"Jobber is busy or unreachable ({type(exc).__name__}); the next poll continues"
        return result
    newest = max([newest, *result.newest])
    # Never past "now": an item updated later than our clock would otherwise be skipped next time.
    result.watermark = min(newest, now)
    _save_watermark(engine, account_key, settings.trigger, result.watermark, now)
    return result


def _put_off(engine: Engine, account_key: str, trigger: str, now: datetime) -> bool:
    """Should the poll wait a turn? Only for a real backlog (BACKLOG_ROWS, BACKLOG_AGE): then webhooks are
    evidently arriving, and a poll would spend the Jobber budget those events need (a poll page costs
    thousands of points). Never for more than MAX_PUT_OFF since the last completed pass, which the
    watermark row's updated_at records (a first put-off before any pass creates the row, watermark empty)."""
    from tasks.store.inbox_work import backlog

    waiting, ready_since = backlog(engine, now=now, cap=BACKLOG_ROWS + 1)
    old = ready_since is not None and now - ready_since > BACKLOG_AGE
    if waiting <= BACKLOG_ROWS and not old:
        return False
    with unit_of_work(engine) as session:
        row = session.get(PollWatermark, (account_key, trigger))
        if row is None:
            session.add(PollWatermark(account_key=account_key, trigger=trigger, watermark=None, updated_at=now))
            return True
        return now - (as_utc(row.updated_at) or now) < MAX_PUT_OFF


def _plan_candidates(
    client: JobberClient,
    engine: Engine,
    settings: ReviewSettings,
    branding: Branding,
    account_key: str,
    since: datetime,
    now: datetime,
    result: PollResult,
) -> None:
    for match, updated in _candidates(client, settings, since):
        result.examined += 1
        if updated is not None:
            result.newest.append(updated)
        if not match.matched or match.context is None:
            continue
        result.decisions.append(
            plan_request(
                engine,
                context=match.context,
                settings=settings,
                branding=branding,
                account_key=account_key,
                trigger_item_id=match.trigger_item_id,
                trigger_at=match.trigger_at,
                source="poll",
                now=now,
                business_zone=lambda: business_zone_of(client),
            )
        )
