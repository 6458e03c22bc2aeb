"""The work a batch of Jobber events causes: refresh, review request, Slack; then send what is due now.

`drain` is the whole unit of work a task run (or the scheduled drain) performs: claim a batch of pending
inbox rows, fetch each item once, and for every event, in order:

1. refresh the synced record (or delete it);
2. plan the review request when the topic can start the contractor's trigger (one row per job: the
   dedupe is the review_requests table's, shared with the polling fallback and the Make.com endpoint);
3. queue the Slack notification (once per event identity, in the Slack outbox);

then mark each row done with a one-line outcome, or give it back for a later attempt when something
failed (Jobber down, throttled, a database error), and send the review requests that are due now and
post Slack's queue for a moment. It loops while rows keep coming, within a time budget, so one run takes
many events when they arrive faster than runs start.

Everything outside (Jobber, the database, the channels, Slack, the settings) comes in through `Context`,
so tests drive it against the sandbox and a recording channel without Prefect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tasks.events import queue
from tasks.events.fetch import ItemCache, documents_for, kind_of
from tasks.events.routing import work_for
from tasks.jobber.client import JobberClient
from tasks.reviews.decision import Decision
from tasks.reviews.jobber import account_key_of
from tasks.reviews.rules.rendering import Branding
from tasks.reviews.rules.triggers import TOPICS
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.plan import plan_from_event
from tasks.reviews.usecases.send import Channels, dispatch_due
from tasks.slack.notify import notify_event
from tasks.slack.routing import ChannelRoutes
from tasks.slack.sender import SlackSender
from tasks.sync.refresh import apply_refresh

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What the work needs from outside. `slack_sender` None: queued notifications wait for slack-dispatch."""

    engine: Engine
    jobber: JobberClient
    review: ReviewSettings | None
    branding: Branding
    routes: ChannelRoutes
    channels: Channels | None = None
    sender_defaults: Mapping[str, str | None] | None = None
    slack_sender: SlackSender | None = None
    slack_budget_s: float = 0.5  # one post per channel now; the rest at Slack's pace by slack-dispatch
    send_concurrency: int = 8


@dataclass
class EventOutcome:
    """One event's row in the run's artifact, and the one-line outcome stored on its inbox row."""

    inbox_id: int
    topic: str
    item_id: str
    refresh: str = ""
    review: str = ""
    slack: str = ""
    error: str = ""
    status: str = "done"  # done | retrying | failed
    request_id: int | None = None
    label: str = ""

    def summary(self) -> str:
        named = (("refresh", self.refresh), ("review", self.review), ("slack", self.slack), ("error", self.error))
        parts = [f"{name}: {value}" for name, value in named if value]
        return "; ".join(parts) or "nothing to do"

    def row(self) -> dict[str, Any]:
        return {
            "event": self.inbox_id,
            "topic": self.topic,
            "item": self.label or self.item_id,
            "refresh": self.refresh,
            "review request": self.review,
            "slack": self.slack,
            "status": self.status if not self.error else f"{self.status}: {self.error}",
        }


@dataclass
class DrainResult:
    """Everything one unit of work did."""

    outcomes: list[EventOutcome] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)  # review requests sent (or not) this run
    batches: int = 0
    fetches: int = 0
    slack_posted: int = 0
    stopped: str = ""

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def review_count(self, word: str) -> int:
        return sum(1 for o in self.outcomes if o.review.startswith(word))

    def run_name(self) -> str:
        """What the run did, for the Prefect UI: "jobber events: JOB_CLOSED job #1042 -> John S. (sent)"."""
        if not self.outcomes:
            return "jobber events: nothing pending"
        if len(self.outcomes) == 1:
            o = self.outcomes[0]
            what = o.review or o.slack or o.refresh or o.status
            return f"jobber events: {o.topic} {o.label or o.item_id} ({what})"[:200]
        reviewed = [o for o in self.outcomes if o.review and not o.review.startswith(("duplicate", "ignored"))]
        if len(reviewed) == 1 and not self.count("retrying") and not self.count("failed"):
            # one job closed: its JOB_CLOSED, JOB_UPDATE and visit events; name the run after the job
            o, more = reviewed[0], len(self.outcomes) - 1
            return f"jobber events: {o.topic} {o.label or o.item_id} ({o.review}) +{more} related"[:200]
        counts = [f"{len(self.outcomes)} events"]
        for word in ("sent", "planned", "skipped"):
            n = self.review_count(word)
            if n:
                counts.append(f"{n} review {word}")
        for status in ("retrying", "failed"):
            n = self.count(status)
            if n:
                counts.append(f"{n} {status}")
        return "jobber events: " + ", ".join(counts)


def _describe(decision: Decision) -> str:
    who = f" -> {decision.client}" if decision.client else ""
    why = f": {decision.reason}" if decision.reason else ""
    return f"{decision.status}{who}{why}"


def _prefetch_keys(events: tuple[queue.Event, ...]) -> list[tuple[str, str]]:
    keys = []
    for event in events:
        kind = kind_of(event.topic)
        if kind is not None and not event.topic.upper().endswith("_DESTROY") and work_for(event.topic):
            keys.append((kind, event.item_id))
    return keys


def handle_event(event: queue.Event, ctx: Context, cache: ItemCache) -> EventOutcome:
    """Do everything one event needs, from the batch's cached items. Raises when a step failed (the caller
    gives the row back for a later attempt; every step is idempotent, so redoing the others is safe)."""
    outcome = EventOutcome(event.id, event.topic, event.item_id)
    work = work_for(event.topic)
    kind = kind_of(event.topic)
    account_key = account_key_of(ctx.jobber)
    if "refresh" in work:
        node = None if event.topic.upper().endswith("_DESTROY") or kind is None else cache.get(kind, event.item_id)
        outcome.refresh = apply_refresh(
            ctx.engine, topic=event.topic, item_id=event.item_id, node=node, account_key=account_key
        ).action
    if "review" in work and ctx.review is not None and event.topic.upper() in TOPICS[ctx.review.trigger]:
        decision = plan_from_event(
            ctx.jobber,
            ctx.engine,
            topic=event.topic,
            item_id=event.item_id,
            settings=ctx.review,
            branding=ctx.branding,
            occurred_at=event.occurred_at,
            fetch=cache.for_review,
        )
        outcome.review = _describe(decision)
        outcome.request_id = decision.request_id
        if decision.job:
            outcome.label = decision.job
    if "slack" in work:
        notified = notify_event(
            ctx.engine,
            ctx.routes,
            topic=event.topic,
            item_id=event.item_id,
            account_id=event.account_id,
            jobber=lambda: ctx.jobber,
            occurred_at=event.occurred_at,
            fetch=cache.for_slack,
        )
        outcome.slack = notified.status if not notified.reason else f"{notified.status}: {notified.reason}"
        if notified.subject and not outcome.label:
            outcome.label = notified.subject
    return outcome


def new_cache(ctx: Context) -> ItemCache:
    """A batch's item cache, fetching only the fields this contractor's trigger reads."""
    return ItemCache(ctx.jobber, documents=documents_for(ctx.review.trigger if ctx.review is not None else None))


def process_claim(claim: queue.Claim, ctx: Context, cache: ItemCache | None = None) -> list[EventOutcome]:
    """Handle every event of a claim, then finish or give back each row (fenced by the claim's token)."""
    cache = cache or new_cache(ctx)
    cache.prefetch(_prefetch_keys(claim.events))
    outcomes: list[EventOutcome] = []
    done: dict[int, str] = {}
    errors: dict[int, str] = {}
    for event in claim.events:
        try:
            outcome = handle_event(event, ctx, cache)
        except Exception as exc:  # noqa: BLE001 - one event's failure must not stop the others
            log.warning("Event %s %s %s failed: %s", event.id, event.topic, event.item_id, exc.__class__.__name__)
            outcome = EventOutcome(event.id, event.topic, event.item_id, error=f"{type(exc).__name__}: {exc}"[:300])
            errors[event.id] = outcome.error
        else:
            done[event.id] = outcome.summary()
        outcomes.append(outcome)
    queue.finish(ctx.engine, claim.token, done)
    if errors:
        _, failed = queue.retry_later(ctx.engine, claim.token, errors)
        for outcome in outcomes:
            if outcome.inbox_id in errors:
                outcome.status = "failed" if outcome.inbox_id in failed else "retrying"
    return outcomes


def _send_due(ctx: Context, outcomes: list[EventOutcome], cache: ItemCache | None = None) -> list[Decision]:
    """Send what planning made due now (delay 0 outside quiet hours); later ones wait for review-dispatch.
    The jobs this batch fetched are not fetched again for the re-check before sending."""
    if ctx.channels is None or not any(o.review.startswith("planned") for o in outcomes):
        return []
    result = dispatch_due(
        ctx.engine,
        channels=ctx.channels,
        jobber=ctx.jobber,
        defaults=ctx.sender_defaults,
        concurrency=ctx.send_concurrency,
        fresh_jobs=cache.fetched("job") if cache is not None else None,
    )
    final = {d.request_id: d for d in result.decisions if d.request_id is not None}
    for outcome in outcomes:
        if not outcome.review.startswith("planned"):
            continue  # a duplicate's row keeps saying it was a duplicate
        decision = final.get(outcome.request_id) if outcome.request_id is not None else None
        if decision is not None:
            outcome.review = _describe(decision)
    return result.decisions


def _post_slack(ctx: Context, outcomes: list[EventOutcome]) -> int:
    if ctx.slack_sender is None or not any(o.slack.startswith("queued") for o in outcomes):
        return 0
    from tasks.slack.dispatch import dispatch_pending

    result = dispatch_pending(ctx.engine, ctx.slack_sender, limit=50, budget_s=ctx.slack_budget_s)
    return int(result.sent)


def drain(
    ctx: Context,
    *,
    batch_size: int = 200,
    budget_s: float = 60.0,
    older_than: timedelta | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Claim and handle batches until nothing is claimable or `budget_s` is spent (the rest waits for the
    next wake-up or the scheduled drain)."""
    result = DrainResult()
    started = clock()
    while True:
        claim = queue.claim(ctx.engine, limit=batch_size, older_than=older_than, now=datetime.now(UTC))
        if not claim:
            break
        result.batches += 1
        cache = new_cache(ctx)
        outcomes = process_claim(claim, ctx, cache)
        result.fetches += cache.fetches
        result.decisions += _send_due(ctx, outcomes, cache)
        result.slack_posted += _post_slack(ctx, outcomes)
        result.outcomes += outcomes
        if clock() - started >= budget_s:
            result.stopped = f"time budget of {budget_s:.0f}s used; the rest waits for the next run"
            break
    return result


__all__ = ["Context", "DrainResult", "EventOutcome", "drain", "handle_event", "process_claim"]
