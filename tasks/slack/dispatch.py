"""The dispatcher: post due outbox rows to Slack, one channel at a time at Slack's pace, never losing one.

Due rows are taken oldest first, per channel: each channel gets at most one message per `min_interval_s`
(Slack allows about one per second per channel) and a busy channel never holds up the others. Each row is
claimed, posted, and its outcome recorded:
- sent: the row is done.
- 429 beyond what the client waited out: the row is deferred by Retry-After and its channel is held for
  the rest of the run; other channels carry on.
- outage (5xx, connection error, timeout): the row is deferred with capped exponential backoff and jitter,
  and the run stops: hammering a Slack that is down helps nobody. Later runs drain what is left.
- permanent error (channel_not_found, not_in_channel, invalid_auth, ...): the row is marked failed.
A run also stops when its time budget is used; the rest waits for the next run (every minute).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from tasks.errors import PermanentDeliveryError, TransientDeliveryError
from tasks.retry import Backoff
from tasks.slack import outbox
from tasks.slack.render import SlackMessage
from tasks.slack.sender import SlackSender
from tasks.store.db import unit_of_work

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


# After an outage: 30 s, 60 s, 2 min ... capped at an hour, with jitter (50-100 %) so rows deferred together
# do not all come back at once. A Retry-After from Slack replaces it.
BACKOFF = Backoff(base=30.0, cap=3600.0, floor=0.5)


class ChannelPacer:
    """At most one post per `min_interval_s` per channel; a channel can be held (Slack said "wait")."""

    def __init__(
        self,
        *,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._sleep = sleep
        self._next_at: dict[str, float] = {}
        self._held_until: dict[str, float] = {}

    def delay_for(self, channel: str) -> float:
        """Seconds until `channel` may be posted to."""
        return max(0.0, self._next_at.get(channel, 0.0) - self._clock())

    def is_held(self, channel: str) -> bool:
        return self._held_until.get(channel, 0.0) > self._clock()

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def posted(self, channel: str) -> None:
        self._next_at[channel] = self._clock() + self.min_interval_s

    def hold(self, channel: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._held_until[channel] = until
        self._next_at[channel] = max(self._next_at.get(channel, 0.0), until)


@dataclass(frozen=True)
class DispatchedRow:
    outbox_id: int
    kind: str
    channel: str
    outcome: str  # sent | failed | deferred
    error: str | None = None


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    rows: list[DispatchedRow] = field(default_factory=list)
    stopped: str | None = None  # why the run ended before trying every due row
    counts: outbox.OutboxCounts = field(default_factory=outbox.OutboxCounts)

    def record(self, row: DispatchedRow) -> None:
        self.rows.append(row)
        if row.outcome == "sent":
            self.sent += 1
        elif row.outcome == "failed":
            self.failed += 1
        elif row.outcome == "deferred":
            self.deferred += 1


def dispatch_pending(
    engine: Engine,
    sender: SlackSender,
    *,
    pacer: ChannelPacer | None = None,
    now: Callable[[], datetime] = utc_now,
    clock: Callable[[], float] = time.monotonic,
    limit: int = 200,
    budget_s: float = 50.0,
    lease_s: float = 120.0,
    rng: random.Random | None = None,
) -> DispatchResult:
    """Post up to `limit` due rows within about `budget_s` seconds; see the module docstring for outcomes."""
    pacer = pacer or ChannelPacer(clock=clock)
    result = DispatchResult()
    started = clock()
    with unit_of_work(engine) as session:
        queue = outbox.due_rows(session, now=now(), limit=limit)
    while queue:
        if clock() - started >= budget_s:
            result.stopped = f"time budget of {budget_s:.0f}s used; the rest waits for the next run"
            break
        # A channel that Slack asked to wait keeps its rows for a later run.
        queue = [(i, ch) for i, ch in queue if not pacer.is_held(ch)]
        # The oldest row of a channel whose turn it is; other channels never wait behind a busy one.
        ready = next((n for n, (_, ch) in enumerate(queue) if pacer.delay_for(ch) <= 0), None)
        if ready is None:
            if not queue:
                break
            wait = min(pacer.delay_for(ch) for _, ch in queue)
            if clock() - started + wait > budget_s:
                result.stopped = f"time budget of {budget_s:.0f}s used; the rest waits for the next run"
                break
            pacer.pause(wait)
            continue
        outbox_id, _ = queue.pop(ready)
        with unit_of_work(engine) as session:
            at = now()
            row = outbox.claim(session, outbox_id=outbox_id, now=at, lease_until=at + timedelta(seconds=lease_s))
        if row is None:
            continue  # sent, failed or claimed by another dispatcher meanwhile
        kind, channel, attempts, payload = row.kind, row.channel, row.attempts, row.payload
        message = SlackMessage.from_payload(payload)
        try:
            sender.post_message(channel=channel, text=message.text, blocks=message.blocks)
        except TransientDeliveryError as exc:
            pacer.posted(channel)
            delay = BACKOFF.seconds(attempts, retry_after=exc.retry_after, rng=rng)
            if exc.retry_after is not None:
                pacer.hold(channel, delay)
            with unit_of_work(engine) as session:
                outbox.defer(session, row=row, until=now() + timedelta(seconds=delay), error=str(exc))
            result.record(DispatchedRow(outbox_id, kind, channel, "deferred", str(exc)))
            log.warning("Slack post %s to %s deferred %.0fs: %s", outbox_id, channel, delay, exc)
            if exc.retry_after is None:
                result.stopped = f"Slack unavailable ({exc.code}); pending rows wait for a later run"
                break
            continue
        except PermanentDeliveryError as exc:
            pacer.posted(channel)
            error = f"{exc.code}: {exc}" if exc.code else str(exc)
            with unit_of_work(engine) as session:
                outbox.mark_failed(session, row=row, error=error)
            result.record(DispatchedRow(outbox_id, kind, channel, "failed", error))
            log.error("Slack post %s to %s failed for good: %s", outbox_id, channel, error)
            continue
        except Exception as exc:  # a bug (bad payload, SDK change): do not retry it forever
            error = f"unexpected {type(exc).__name__}: {exc}"
            with unit_of_work(engine) as session:
                outbox.mark_failed(session, row=row, error=error)
            result.record(DispatchedRow(outbox_id, kind, channel, "failed", error))
            log.exception("Slack post %s to %s failed unexpectedly", outbox_id, channel)
            continue
        pacer.posted(channel)
        with unit_of_work(engine) as session:
            outbox.mark_sent(session, row=row, now=now())
        result.record(DispatchedRow(outbox_id, kind, channel, "sent"))
    with unit_of_work(engine) as session:
        result.counts = outbox.outbox_counts(session)
    return result
