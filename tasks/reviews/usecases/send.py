"""Send due review requests exactly once: claim, re-check, choose, render, time, deliver, record.

One request's due step (first message or follow-up) is `SendStep.run`, a row of named steps, each of
which may end the step with a decision:
1. `claim` the row through the ledger (one conditional UPDATE; losers move on) and parse its stored
   context once (tasks/reviews/rules/stored.py);
2. `recheck_trigger` in Jobber (a reopened job or an un-paid invoice cancels the request). Jobber gets a
   time budget of a fifth of the lease (`WAIT_BUDGET_SHARE`), so no Retry-After, pacing or backoff can
   stall a claimed request until its lease runs out; Jobber trouble (unreachable, throttled, reconnect
   needed) defers the request with capped backoff, not counted as an attempt, for up to 24 h;
3. `choose_channels` again with the opt-outs as of now (a STOP since planning counts), then `render`;
4. `check_time`: every timing rule again, on the clock, in the recipient's zone, by the function planning
   uses (`rules.timing.send_time`): a claim that comes late (the tick after 21:00, a long batch, a backlog
   after an outage) defers the request to the next allowed minute instead of sending at night. Before it
   waits, a delivery an earlier attempt left `sending`/`unknown` is reconciled with the provider (a read,
   fine at night: `ledger.reconcile_pending`): a message the provider already has is recorded sent now,
   not `planned` until the morning;
5. `deliver` on each channel through the ledger's `deliver_once` (the delivery row committed before the
   provider call, fenced by the claim, reconciled with the provider before any resend);
6. `record` the outcome: sent (follow-up scheduled), failed (permanent error; Twilio 21610 adds a
   suppression), or planned again later (transient error with backoff, or an outcome to reconcile).

`dispatch_due` drains every due request in one call, a few in parallel: a burst of 1,000 closed jobs is
one run's work, not 1,000 runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from tasks.delivery.base import Channel, OutgoingMessage
from tasks.errors import (
    JobberError,
    JobberQueryTooExpensive,
    JobberRateLimited,
    JobberTransportError,
    ReconnectRequired,
    ReviewTemplateError,
)
from tasks.jobber.client import JobberClient
from tasks.jobber.models import parse_time
from tasks.retry import Backoff
from tasks.reviews import ledger
from tasks.reviews.decision import Decision
from tasks.reviews.jobber import job_states, still_valid
from tasks.reviews.ledger import Outcome
from tasks.reviews.loader import opt_outs
from tasks.reviews.rules.channels import ChannelChoice, choose_channels
from tasks.reviews.rules.rendering import RenderedMessages, render_messages
from tasks.reviews.rules.stored import StoredContext
from tasks.reviews.rules.timing import outside_quiet_hours, resolve_zone, send_time
from tasks.settings import Settings
from tasks.store.db import unit_of_work
from tasks.store.lease import new_token
from tasks.store.models import ReviewRequest

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=10)
# Waits inside a claim (Jobber's Retry-After, pacing, backoff) may use at most this share of the lease: a
# worker that still holds its claim when it reaches the provider never loses it to a takeover by waiting.
WAIT_BUDGET_SHARE = 0.2
MAX_ATTEMPTS = 8
RECHECK_RETRY = timedelta(minutes=2)
# Jobber trouble during the re-check (unreachable, throttled, reconnect needed) defers the request: capped
# exponential backoff (or Jobber's Retry-After), not counted as an attempt, for up to this long since the
# trouble began; a 6-hour outage loses nothing.
JOBBER_TROUBLE = (JobberTransportError, JobberRateLimited, ReconnectRequired)
JOBBER_GIVE_UP_AFTER = timedelta(hours=24)
# 2 min, 4, 8 ... 30 min, each +-20 % so a backlog does not return at once (or Jobber's Retry-After).
JOBBER_BACKOFF = Backoff.around(120, 30 * 60)
# After a provider's transient error or an unknown outcome: 1 min, 2, 4 ... 1 h, each +-20 %, or what the
# provider asked for.
SEND_BACKOFF = Backoff.around(60, 3600)
_TROUBLE_SINCE, _TROUBLE_COUNT = "jobber_trouble_since", "jobber_trouble_deferrals"


@dataclass(frozen=True)
class Channels:
    """The providers a dispatch sends through (from tasks.delivery.factory, or recording ones in tests)."""

    sms: Channel
    email: Channel

    def get(self, name: str) -> Channel:
        return self.sms if name == "sms" else self.email


@dataclass
class DispatchResult:
    decisions: list[Decision] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for d in self.decisions if d.status == status)

    @property
    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.decisions:
            out[d.status] = out.get(d.status, 0) + 1
        return out


def sender_defaults(app: Settings) -> dict[str, str | None]:
    """The sender addresses the environment configures, used when the settings name none."""
    return {
        "sms_sender": app.twilio_messaging_service_sid or app.twilio_from_number,
        "email_from": app.smtp_from,
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _notify_failed(engine: Engine, request_id: int) -> None:
    """Queue the `review_failed` Slack notification; best effort, never failing the send path."""
    try:
        from tasks.slack.notify import notify_review_failed

        notify_review_failed(request_id, engine=engine)
    except Exception:  # noqa: BLE001 - a Slack problem must not undo or repeat a decision already recorded
        log.warning("Review request %s failed; its Slack notification could not be queued", request_id, exc_info=True)


class _ClaimLost(Exception):
    """Another worker took the request over after this one's lease ran out: stop, write nothing."""


@dataclass
class SendStep:
    """One claimed request's due step, as named steps (see the module docstring)."""

    engine: Engine
    request: ReviewRequest
    token: str
    channels: Channels
    jobber: JobberClient | None
    known_jobs: Mapping[str, Mapping[str, Any]] | None
    defaults: Mapping[str, str | None]
    lease: timedelta
    now: datetime
    current: Callable[[], datetime]

    def __post_init__(self) -> None:
        self.stored = StoredContext.parse(self.request.context, job_id=self.request.job_id)
        self.settings = self.stored.settings
        self.follow_up = self.request.sent_at is not None
        self.step = f"follow_up_{self.request.follow_ups_sent + 1}" if self.follow_up else "initial"
        self.zone = resolve_zone(self.request.recipient_timezone)

    def run(self) -> Decision | None:
        request = self.request
        if not self.follow_up and request.attempts > MAX_ATTEMPTS:
            # Only claims that never reached an outcome (a worker killed or stuck past its lease, again and
            # again) get here: retries that end in put_back give up at MAX_ATTEMPTS.
            return self.finish(
                "failed",
                f"gave up after {request.attempts - 1} attempts that ended without an outcome "
                "(the worker crashed or its lease ran out)",
            )
        try:
            return self.steps()
        except _ClaimLost as lost:
            log.warning("Review request %s: %s", request.id, lost)
            return None
        except Exception as exc:
            # An unexpected error (a bug, a database hiccup): planned again with backoff and a recorded reason,
            # and given up after MAX_ATTEMPTS like any other retry, instead of being re-claimed after every
            # lease forever. The ledger makes the retry safe: a delivery left `sending` is reconciled first.
            log.exception("Review request %s could not be processed", request.id)
            try:
                reason = f"unexpected error: {type(exc).__name__}: {exc}"[:500]
                return self.put_back(reason, SEND_BACKOFF.delay(request.attempts))
            except Exception:
                log.exception(
                    "Review request %s: the error could not be recorded; the lease expiry retries it", request.id
                )
                raise exc from None

    def steps(self) -> Decision:
        stopped = self.recheck_trigger()
        if stopped is not None:
            return stopped
        choice = self.choose()
        if not choice.channels:
            if self.follow_up:
                return self.finish("sent", f"follow-ups stopped: {choice.why_not}", next_follow_up_at=None)
            return self.finish("skipped", f"no usable contact at send time: {choice.why_not}")
        rendered = self.render(choice)
        if isinstance(rendered, Decision):
            return rendered
        early = self.check_time(choice.channels, rendered)
        if early is not None:
            return early
        return self.record(self.deliver(choice, rendered))

    # -- 2. the trigger still holds in Jobber -----------------------------------------------------------

    def recheck_trigger(self) -> Decision | None:
        request = self.request
        # First message only; Make.com requests have no Jobber item to check.
        if self.follow_up or self.jobber is None or request.source == "make":
            return None
        known = self.known_jobs if self.known_jobs is not None and request.job_id in self.known_jobs else None
        try:
            # Jobber may not make this worker wait anywhere near its lease (an uncapped Retry-After, retries).
            with self.jobber.time_budget((self.lease * WAIT_BUDGET_SHARE).total_seconds()):
                problem = still_valid(
                    self.jobber,
                    trigger=request.trigger,
                    job_id=request.job_id,
                    trigger_item_id=request.trigger_item_id,
                    known_jobs=known,
                )
        except JOBBER_TROUBLE as exc:
            if isinstance(exc, JobberQueryTooExpensive):
                return self.put_back(f"could not re-check the job in Jobber ({type(exc).__name__})", RECHECK_RETRY)
            return self.wait_for_jobber(exc)
        except JobberError as exc:
            return self.put_back(f"could not re-check the job in Jobber ({type(exc).__name__})", RECHECK_RETRY)
        self.jobber_recovered()
        return self.finish("cancelled", problem) if problem is not None else None

    def wait_for_jobber(self, exc: JobberError) -> Decision:
        # Jobber trouble is not the request's fault: deferred (not an attempt) with capped backoff, within quiet
        # hours as any retry, and given up only when the trouble has lasted JOBBER_GIVE_UP_AFTER.
        now = self.now
        stored = dict(self.request.context or {})
        since = parse_time(stored.get(_TROUBLE_SINCE)) or now
        deferrals = int(stored.get(_TROUBLE_COUNT) or 0)
        what = f"Jobber unavailable during the re-check ({type(exc).__name__})"
        if now - since >= JOBBER_GIVE_UP_AFTER:
            hours = (now - since).total_seconds() / 3600
            return self.finish("failed", f"gave up after {hours:.0f} h of Jobber trouble: {what}")
        wait = JOBBER_BACKOFF.delay(deferrals + 1, retry_after=getattr(exc, "retry_after", None))
        when = outside_quiet_hours(now + wait, self.settings, self.zone)
        stored.update({_TROUBLE_SINCE: since.isoformat(), _TROUBLE_COUNT: deferrals + 1})
        reason = f"waiting for Jobber since {since:%Y-%m-%d %H:%M} UTC: {what}"
        with unit_of_work(self.engine) as session:
            ledger.put_back(session, request_id=self.request.id, token=self.token, follow_up=False, when=when,
                            reason=reason, attempt=False, context=stored)  # fmt: skip
        return self.decision("deferred", reason, when)

    def jobber_recovered(self) -> None:
        # The trouble is over: the next outage starts its own clock.
        stored = dict(self.request.context or {})
        if _TROUBLE_SINCE in stored or _TROUBLE_COUNT in stored:
            stored.pop(_TROUBLE_SINCE, None)
            stored.pop(_TROUBLE_COUNT, None)
            self.request.context = stored
            with unit_of_work(self.engine) as session:
                ledger.keep_context(session, request_id=self.request.id, token=self.token, context=stored)

    # -- 3. channels as of now, then render ---------------------------------------------------------------

    def choose(self) -> ChannelChoice:
        request = self.request
        with unit_of_work(self.engine) as session:
            sms_out, email_out = opt_outs(
                session, self.settings, phone=request.recipient_phone, email=request.recipient_email
            )
        return choose_channels(
            self.stored.context, self.settings, sms_opted_out=sms_out, email_opted_out=email_out, at_send=True
        )

    def render(self, choice: ChannelChoice) -> RenderedMessages | Decision:
        wanted = choice.channels + (("email",) if choice.email_fallback else ())
        try:
            return render_messages(
                self.stored.context,
                self.settings,
                self.stored.branding,
                token=self.request.click_token or "",
                channels=wanted,
                follow_up=self.request.follow_ups_sent + 1 if self.follow_up else 0,
            )
        except ReviewTemplateError as exc:
            if self.follow_up:
                return self.finish("sent", f"follow-up not sent, template problem: {exc}", next_follow_up_at=None)
            return self.finish("failed", f"template problem: {exc}")

    # -- 4. every timing rule again, on the clock, just before the provider is called ----------------------

    def check_time(self, chosen: tuple[str, ...], rendered: RenderedMessages) -> Decision | None:
        settings, zone = self.settings, self.zone
        at = self.current()
        trigger_at = self.stored.trigger_at or at
        allowed_at = send_time(settings, chosen, trigger_at=trigger_at, now=at, zone=zone, follow_up=self.follow_up)
        if allowed_at <= at:
            return None
        settled = self.settle_before_waiting(chosen, rendered)
        if settled is not None:
            return settled
        if not self.follow_up and trigger_at + timedelta(minutes=settings.delay_minutes) > at:
            why = f"the {settings.delay_minutes}-minute delay after the trigger has not passed"
        else:
            why = (
                f"{at.astimezone(zone):%H:%M} is inside quiet hours "
                f"({settings.quiet_hours_start:%H:%M}-{settings.quiet_hours_end:%H:%M}, {zone.key})"
            )
        reason = f"deferred to {allowed_at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}: {why}"
        with unit_of_work(self.engine) as session:
            ledger.put_back(session, request_id=self.request.id, token=self.token, follow_up=self.follow_up,
                            when=allowed_at, reason=reason, attempt=False)  # fmt: skip
        return self.decision("deferred", reason, allowed_at)

    def settle_before_waiting(self, chosen: tuple[str, ...], rendered: RenderedMessages) -> Decision | None:
        """Before waiting for the clock, settle deliveries an earlier attempt left `sending`/`unknown`.

        Asking the provider is a read, fine at night: when it has the message on every chosen channel that
        was attempted, and every chosen channel was attempted, the step is recorded now (as `record` does)
        instead of reading `planned` until the morning. Otherwise (never attempted, not at the provider, or
        it cannot tell yet) the request waits as before; nothing is sent here."""
        settled: dict[str, Outcome] = {}
        for name in chosen:
            outcome = ledger.reconcile_pending(
                self.engine,
                request_id=self.request.id,
                message=self.message(name, rendered),
                channel=self.channels.get(name),
                claim_token=self.token,
                renew_at=self.current(),
            )
            if outcome is not None and outcome.status == "lost":
                raise _ClaimLost(outcome.detail)
            if outcome is not None and outcome.status in ("sent", "failed"):
                settled[name] = outcome
        if len(settled) < len(chosen) or not any(o.status == "sent" for o in settled.values()):
            return None
        return self.record(settled)

    # -- 5. deliver on each channel through the fenced ledger ----------------------------------------------

    def deliver(self, choice: ChannelChoice, rendered: RenderedMessages) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        for name in choice.channels:
            outcomes[name] = self.deliver_on(name, rendered)
        if choice.email_fallback and outcomes.get("sms", Outcome("sent")).status == "failed":
            outcomes["email"] = self.deliver_on("email", rendered)
        return outcomes

    def deliver_on(self, channel: str, rendered: RenderedMessages) -> Outcome:
        outcome = ledger.deliver_once(
            self.engine,
            request_id=self.request.id,
            step=self.step,
            message=self.message(channel, rendered),
            channel=self.channels.get(channel),
            claim_token=self.token,
            renew_at=self.current(),
        )
        if outcome.status == "lost":
            raise _ClaimLost(outcome.detail)
        return outcome

    def message(self, channel: str, rendered: RenderedMessages) -> OutgoingMessage:
        request, settings = self.request, self.settings
        key = f"{request.id}:{self.step}:{channel}"
        metadata = {"review_request_id": str(request.id), "step": self.step, "job_id": request.job_id}
        if channel == "sms":
            assert rendered.sms is not None and request.recipient_phone is not None
            return OutgoingMessage(
                channel="sms",
                to=request.recipient_phone,
                body=rendered.sms.body,
                idempotency_key=key,
                from_address=settings.sender or self.defaults.get("sms_sender"),
                metadata=metadata,
            )
        assert rendered.email is not None and request.recipient_email is not None
        return OutgoingMessage(
            channel="email",
            to=request.recipient_email,
            body=rendered.email.text,
            html=rendered.email.html,
            subject=rendered.email.subject,
            idempotency_key=key,
            unsubscribe_url=f"{self.stored.branding.public_url.rstrip('/')}/u/{request.click_token}",
            from_address=settings.email_from or self.defaults.get("email_from"),
            metadata=metadata,
        )

    # -- 6. record the outcome -----------------------------------------------------------------------------

    def record(self, outcomes: dict[str, Outcome]) -> Decision:
        request, now = self.request, self.now
        pending = [o for o in outcomes.values() if o.status in ("transient", "unknown")]
        if pending:
            retry_after = max((o.retry_after or 0.0 for o in pending), default=0.0) or None
            delay = SEND_BACKOFF.delay(request.attempts, retry_after=retry_after)
            if any(o.status == "unknown" for o in pending):
                delay = min(delay, timedelta(minutes=1))
            return self.put_back("; ".join(f"{k}: {o.detail}" for k, o in outcomes.items() if o in pending), delay)
        sent = [k for k, o in outcomes.items() if o.status == "sent"]
        failures = "; ".join(f"{k}: {o.detail}" for k, o in outcomes.items() if o.status == "failed") or None
        if not sent:
            if self.follow_up:
                return self.finish("sent", f"follow-up failed: {failures}", next_follow_up_at=None)
            return self.finish("failed", failures)
        done = request.follow_ups_sent + 1 if self.follow_up else 0
        next_at: datetime | None = None
        if done < self.settings.follow_ups:
            next_at = outside_quiet_hours(now + timedelta(days=self.settings.follow_up_after_days), self.settings,
                                          self.zone)  # fmt: skip
        with unit_of_work(self.engine) as session:
            ledger.record_sent(session, request_id=request.id, token=self.token,
                               step_done=done if self.follow_up else None, now=now, next_follow_up_at=next_at,
                               reason=failures)  # fmt: skip
        return self.decision("sent", f"{self.step} by {'+'.join(sent)}" + (f" ({failures})" if failures else ""), now)

    # -- the ways a step ends ------------------------------------------------------------------------------

    def decision(self, status: str, reason: str | None = None, planned: datetime | None = None) -> Decision:
        request, context = self.request, self.stored.context
        return Decision(
            context.label(), context.short_client_name, status, request.id, request.channel, planned, self.zone.key,
            reason, f"{request.source}/{self.step}",
        )  # fmt: skip

    def put_back(self, reason: str, delay: timedelta) -> Decision:
        request = self.request
        when = outside_quiet_hours(self.now + delay, self.settings, self.zone)
        give_up = request.attempts >= MAX_ATTEMPTS
        reason = (f"gave up after {request.attempts} attempts: " if give_up else "retrying: ") + reason
        with unit_of_work(self.engine) as session:
            released = ledger.put_back(session, request_id=request.id, token=self.token, follow_up=self.follow_up,
                                       when=when, reason=reason, give_up=give_up)  # fmt: skip
        if released and give_up and not self.follow_up:
            _notify_failed(self.engine, request.id)
        return self.decision("failed" if give_up and not self.follow_up else "retrying", reason, when)

    def finish(self, status: str, reason: str | None, **extra: Any) -> Decision:
        with unit_of_work(self.engine) as session:
            released = ledger.finish(
                session, request_id=self.request.id, token=self.token, status=status, reason=reason, **extra
            )
        if released and status == "failed":
            _notify_failed(self.engine, self.request.id)
        return self.decision(status, reason)


def process_request(
    engine: Engine,
    request_id: int,
    *,
    channels: Channels,
    jobber: JobberClient | None,
    known_jobs: Mapping[str, Mapping[str, Any]] | None = None,
    defaults: Mapping[str, str | None] | None = None,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Decision | None:
    """Claim and send one request's due step. None when another worker has it (or it is no longer due, or
    this worker lost it to another after its lease ran out).

    `now` is the time of the claim; `clock` reads the time again just before the provider is called (by
    default `now` plus the time this call has taken).
    """
    claimed_at = now or _now()
    started = time.monotonic()

    def current() -> datetime:
        return clock() if clock is not None else claimed_at + timedelta(seconds=time.monotonic() - started)

    token = new_token()
    with unit_of_work(engine) as session:
        if not ledger.claim(session, request_id=request_id, token=token, now=claimed_at, lease=lease):
            return None
        request = session.get(ReviewRequest, request_id)
        assert request is not None
        session.expunge(request)
    return SendStep(
        engine, request, token, channels, jobber, known_jobs, defaults or {}, lease, claimed_at, current
    ).run()


def dispatch_due(
    engine: Engine,
    *,
    channels: Channels,
    jobber: JobberClient | None,
    defaults: Mapping[str, str | None] | None = None,
    limit: int = 5000,
    concurrency: int = 8,
    lease: timedelta = DEFAULT_LEASE,
    now: Callable[[], datetime] = _now,
    rounds: int = 10,
    fresh_jobs: Mapping[str, Mapping[str, Any]] | None = None,
) -> DispatchResult:
    """Send everything that is due, in parallel, until nothing due is left (or `rounds` passes).

    `fresh_jobs`: jobs the caller fetched from Jobber a moment ago (the event path's unit of work); their
    re-check uses that answer instead of asking Jobber again."""
    result = DispatchResult()
    for _ in range(rounds):
        with unit_of_work(engine) as session:
            ids = ledger.due_request_ids(session, now=now(), lease=lease, limit=limit)
        if not ids:
            break
        known_jobs = _recheck_jobs(engine, jobber, ids, fresh=fresh_jobs)

        def one(request_id: int, known_jobs: Mapping[str, Mapping[str, Any]] | None = known_jobs) -> Decision | None:
            try:
                return process_request(
                    engine,
                    request_id,
                    channels=channels,
                    jobber=jobber,
                    known_jobs=known_jobs,
                    defaults=defaults,
                    lease=lease,
                    now=now(),
                    clock=now,
                )
            except Exception:
                # The claim stays; after the lease another run reconciles and finishes it.
                log.exception("Review request %s could not be processed", request_id)
                return None

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            decisions = [d for d in pool.map(one, ids) if d is not None]
        result.decisions.extend(decisions)
        if not decisions or all(d.status in ("retrying", "deferred") for d in decisions):
            break
    return result


def _recheck_jobs(
    engine: Engine, jobber: JobberClient | None, ids: list[int], *, fresh: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Mapping[str, Any]] | None:
    """Fetch the state of every job about to get a first message in a few batched calls (jobs in `fresh`
    were fetched a moment ago: they are not asked again)."""
    if jobber is None:
        return None
    with unit_of_work(engine) as session:
        job_ids = list(
            session.scalars(
                select(ReviewRequest.job_id).where(
                    ReviewRequest.id.in_(ids),
                    ReviewRequest.sent_at.is_(None),
                    ReviewRequest.source != "make",
                    ReviewRequest.trigger.in_(("job_closed", "visit_completed")),
                )
            )
        )
    job_ids = [j for j in job_ids if not j.startswith("invoice:")]
    known = {j: fresh[j] for j in job_ids if fresh is not None and j in fresh}
    job_ids = [j for j in job_ids if j not in known]
    if not job_ids:
        return known
    try:
        return {**known, **job_states(jobber, job_ids)}
    except JobberError as exc:
        log.warning("Batched re-check failed (%s); requests re-check one by one", type(exc).__name__)
        return None
