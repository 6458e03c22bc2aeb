"""Send due review requests exactly once: claim, re-check, render, deliver with a ledger, release.

For each due request (first message or follow-up):
1. claim the row (one conditional UPDATE; losers move on);
2. re-check the trigger in Jobber (a reopened job or an un-paid invoice cancels the request); Jobber gets
   a time budget of a fifth of the lease (`WAIT_BUDGET_SHARE`), so no Retry-After, pacing or backoff can
   stall a claimed request until its lease runs out;
3. choose channels again (an opt-out since planning counts) and render;
4. check every timing rule again, on the clock, in the recipient's zone (`plan_send_time`, as planning
   does): a claim that comes late (the tick after 21:00, a long batch, a backlog after an outage) defers
   the request to the next allowed minute instead of sending at night; a deferral is not an attempt;
5. per channel, the delivery ledger: a `deliveries` row keyed "<request id>:<step>:<channel>" is written
   with status `sending` and committed BEFORE the provider is called, then updated with the answer. The
   same transaction renews the claim only while this worker still holds it (`renew_claim`, a fencing
   token): a worker that lost the request to another after its lease ran out writes nothing and calls no
   provider. A row found in `sending`/`unknown` (a crash or a timeout after the call) is reconciled with
   `channel.find_sent()` first (outside any transaction), and re-sent only when the provider says it
   never got it;
6. release the claim with the outcome: sent (follow-up scheduled), failed (permanent error; Twilio 21610
   adds a suppression), or planned again later (transient error with backoff, or an outcome to reconcile).

`dispatch_due` drains every due request in one call, a few in parallel: a burst of 1,000 closed jobs is
one run's work, not 1,000 runs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from tasks.delivery.base import Channel, OutgoingMessage, SendResult, suppression_reason
from tasks.errors import (
    DeliveryError,
    DeliveryOutcomeUnknown,
    JobberError,
    JobberQueryTooExpensive,
    JobberRateLimited,
    JobberTransportError,
    PermanentDeliveryError,
    ReconnectRequired,
    ReviewTemplateError,
)
from tasks.jobber.client import JobberClient
from tasks.retry import Backoff
from tasks.reviews.jobber import job_states, still_valid
from tasks.reviews.ledger import claim, delivery_for, due_request_ids, release, renew_claim
from tasks.reviews.loader import opt_outs
from tasks.reviews.planning import Decision
from tasks.reviews.rules.channels import choose_channels
from tasks.reviews.rules.mapping import ReviewContext, parse_time
from tasks.reviews.rules.rendering import Branding, RenderedMessages, render_messages
from tasks.reviews.rules.timing import outside_quiet_hours, resolve_zone, send_time
from tasks.reviews.settings import ReviewSettings
from tasks.store.accounts import as_utc
from tasks.store.db import unit_of_work
from tasks.store.models import Delivery, ReviewRequest
from tasks.store.optouts import suppress
from tasks.store.restores import reconcile_since

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


@dataclass(frozen=True)
class _Outcome:
    status: str  # sent | failed | transient | unknown | lost (the claim was taken over: nothing sent)
    detail: str | None = None
    retry_after: float | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _notify_failed(engine: Engine, request_id: int) -> None:
    """Queue the `review_failed` Slack notification; best effort, never failing the send path."""
    try:
        from tasks.slack.notify import notify_review_failed

        notify_review_failed(request_id, engine=engine)
    except Exception:  # noqa: BLE001 - a Slack problem must not undo or repeat a decision already recorded
        log.warning("Review request %s failed; its Slack notification could not be queued", request_id, exc_info=True)


def _request_settings(request: ReviewRequest) -> tuple[ReviewContext, ReviewSettings, Branding]:
    stored = request.context or {}
    context = ReviewContext.from_json(stored.get("fields") or {"job_id": request.job_id})
    settings = ReviewSettings.model_validate(stored.get("settings") or {})
    brand = stored.get("branding") or {}
    branding = Branding(
        public_url=str(brand.get("public_url") or "http://127.0.0.1:8700"),
        business_name=str(brand.get("business_name") or "Our team"),
        business_postal_address=brand.get("business_postal_address"),
    )
    return context, settings, branding


def _label(request: ReviewRequest) -> tuple[str, str]:
    stored = (request.context or {}).get("fields") or {}
    context = ReviewContext.from_json(stored or {"job_id": request.job_id})
    return context.label(), context.short_client_name


def _message(
    *,
    request: ReviewRequest,
    step: str,
    channel: str,
    rendered: RenderedMessages,
    settings: ReviewSettings,
    branding: Branding,
    defaults: Mapping[str, str | None],
) -> OutgoingMessage:
    key = f"{request.id}:{step}:{channel}"
    metadata = {"review_request_id": str(request.id), "step": step, "job_id": request.job_id}
    if channel == "sms":
        assert rendered.sms is not None and request.recipient_phone is not None
        return OutgoingMessage(
            channel="sms",
            to=request.recipient_phone,
            body=rendered.sms.body,
            idempotency_key=key,
            from_address=settings.sender or defaults.get("sms_sender"),
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
        unsubscribe_url=f"{branding.public_url.rstrip('/')}/u/{request.click_token}",
        from_address=settings.email_from or defaults.get("email_from"),
        metadata=metadata,
    )


def deliver_once(
    engine: Engine,
    *,
    request_id: int,
    step: str,
    message: OutgoingMessage,
    channel: Channel,
    claim_token: str,
    renew_at: datetime | None = None,
) -> _Outcome:
    """Hand `message` to `channel` at most once, whatever happened before (crash, timeout, retry, takeover).

    Fenced: the transaction that writes the `sending` row first renews the caller's claim (`claim_token`,
    `claimed_at = renew_at`); when no row matches, the request belongs to another worker now and the
    outcome is "lost" with nothing written and no provider called.
    """
    now = _now()
    lost = _Outcome("lost", "the claim was taken over by another worker after its lease ran out; nothing sent")
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=message.idempotency_key)
        prior = (
            None
            if delivery is None
            else (
                delivery.status,
                delivery.error_message,
                as_utc(delivery.started_at),
                delivery.body,
                delivery.to_address,
            )
        )
        fresh = delivery is None or delivery.status == "pending"
        restored_since = reconcile_since(session, request_id=request_id) if fresh else None
    found: SendResult | None = None
    reconciled = False
    if prior is not None:
        status, error_message, started_at, sent_body, sent_to = prior
        if status in ("sent", "delivered", "undelivered"):
            return _Outcome("sent", "already sent")
        if status == "failed":
            return _Outcome("failed", error_message)
        if status in ("sending", "unknown"):
            # Ask the provider outside any transaction: no database lock is held across network I/O.
            since = (started_at or now) - timedelta(minutes=5)
            # Match on what was actually handed over (stored with the `sending` row), not on a re-rendering:
            # a template edited since then would not match a message the provider did accept.
            sent = replace(message, body=sent_body or message.body, to=sent_to or message.to)
            try:
                found = channel.find_sent(sent, since=since)
            except DeliveryError as exc:
                with unit_of_work(engine) as session:
                    delivery = delivery_for(session, key=message.idempotency_key)
                    if delivery is not None and delivery.status in ("sending", "unknown"):
                        delivery.status = "unknown"
                        delivery.error_message = f"reconciliation failed: {exc}"
                return _Outcome("unknown", "could not reconcile with the provider yet")
            reconciled = True
    if restored_since is not None and not reconciled:
        # This database was restored from a snapshot taken after this request was planned: the provider may
        # hold the message from after the snapshot, which the restored ledger cannot know. Ask first.
        try:
            found = channel.find_sent(message, since=restored_since - timedelta(minutes=5))
        except DeliveryError as exc:
            return _Outcome("unknown", f"restored from a backup; could not reconcile with the provider yet: {exc}")
        reconciled = True
    with unit_of_work(engine) as session:
        # The fence, in the transaction that writes the ledger row.
        if not renew_claim(session, request_id=request_id, token=claim_token, now=renew_at or now):
            return lost
        delivery = delivery_for(session, key=message.idempotency_key)
        if delivery is not None:
            if delivery.status in ("sent", "delivered", "undelivered"):
                return _Outcome("sent", "already sent")
            if delivery.status == "failed":
                return _Outcome("failed", delivery.error_message)
            if found is not None:
                _mark_sent(delivery, found, now)
                return _Outcome("sent", "reconciled: the provider had it")
            if delivery.status in ("sending", "unknown") and not reconciled:
                # Written since we looked: never send without asking the provider first (next attempt does).
                delivery.status = "unknown"
                return _Outcome("unknown", "the delivery changed while it was being checked")
            delivery.status = "sending"
            delivery.attempts += 1
            delivery.started_at = now
            delivery.body = message.body
            delivery.to_address = message.to
        else:
            delivery = Delivery(
                review_request_id=request_id,
                idempotency_key=message.idempotency_key,
                kind=step,
                channel=message.channel,
                to_address=message.to,
                body=message.body,
                provider=channel.name[:16],
                status="sending",
                attempts=1,
                started_at=now,
                updated_at=now,
            )
            session.add(delivery)
            if found is not None:
                _mark_sent(delivery, found, now)
                return _Outcome("sent", "reconciled after a restore: the provider had it")
        delivery_id_key = message.idempotency_key
    # The ledger row is committed: from here a crash leaves "sending", which the next claim reconciles.
    try:
        result = channel.send(message)
    except PermanentDeliveryError as exc:
        _finish(engine, delivery_id_key, status="failed", error=exc)
        reason = suppression_reason(exc)
        if reason and message.channel == "sms":
            with unit_of_work(engine) as session:
                suppress(session, channel="sms", address=message.to, reason=reason, source=exc.provider or channel.name)
        return _Outcome("failed", f"{exc} (code {exc.code})" if exc.code else str(exc))
    except DeliveryOutcomeUnknown as exc:
        _finish(engine, delivery_id_key, status="unknown", error=exc)
        return _Outcome("unknown", str(exc))
    except DeliveryError as exc:  # TransientDeliveryError and anything else that is not final
        _finish(engine, delivery_id_key, status="pending", error=exc)
        return _Outcome("transient", str(exc), getattr(exc, "retry_after", None))
    except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the ledger: reconcile later
        log.warning("Channel %s raised %s; the outcome is treated as unknown", channel.name, type(exc).__name__)
        _finish(engine, delivery_id_key, status="unknown", error=exc)
        return _Outcome("unknown", f"{type(exc).__name__}: {exc}")
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=delivery_id_key)
        if delivery is not None:
            _mark_sent(delivery, result, _now())
    return _Outcome("sent")


def _mark_sent(delivery: Delivery, result: SendResult, now: datetime) -> None:
    delivery.status = "sent"
    delivery.provider = (result.provider or delivery.provider)[:16]
    delivery.provider_message_id = result.provider_message_id
    delivery.sent_at = now
    delivery.error_code = None
    delivery.error_message = None


def _finish(engine: Engine, key: str, *, status: str, error: BaseException) -> None:
    with unit_of_work(engine) as session:
        delivery = delivery_for(session, key=key)
        if delivery is not None:
            delivery.status = status
            delivery.error_code = getattr(error, "code", None)
            delivery.error_message = str(error)[:1000]


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
    now = now or _now()
    started = time.monotonic()

    def current() -> datetime:
        return clock() if clock is not None else now + timedelta(seconds=time.monotonic() - started)

    token = uuid.uuid4().hex
    with unit_of_work(engine) as session:
        if not claim(session, request_id=request_id, token=token, now=now, lease=lease):
            return None
        request = session.get(ReviewRequest, request_id)
        assert request is not None
        session.expunge(request)
    label, who = _label(request)
    context, settings, branding = _request_settings(request)
    is_follow_up = request.sent_at is not None
    step = f"follow_up_{request.follow_ups_sent + 1}" if is_follow_up else "initial"
    zone = resolve_zone(request.recipient_timezone)

    def decision(status: str, reason: str | None = None, planned: datetime | None = None) -> Decision:
        return Decision(
            label, who, status, request.id, request.channel, planned, zone.key, reason, f"{request.source}/{step}"
        )

    def put_back(reason: str, delay: timedelta) -> Decision:
        when = outside_quiet_hours(now + delay, settings, zone)
        give_up = request.attempts >= MAX_ATTEMPTS
        with unit_of_work(engine) as session:
            if is_follow_up:
                values: dict[str, Any] = {"status": "sent", "next_follow_up_at": None if give_up else when}
            elif give_up:
                values = {"status": "failed"}
            else:
                values = {"status": "planned", "planned_at": when}
            values["reason"] = (f"gave up after {request.attempts} attempts: " if give_up else "retrying: ") + reason
            released = release(session, request_id=request.id, token=token, values=values)
        if released and give_up and not is_follow_up:
            _notify_failed(engine, request.id)
        return decision("failed" if give_up and not is_follow_up else "retrying", values["reason"], when)

    def defer(when: datetime, reason: str) -> Decision:
        # Not sent because of the clock: planned again for `when`, and not counted as an attempt.
        values: dict[str, Any] = {"reason": reason, "attempts": ReviewRequest.attempts - 1}
        if is_follow_up:
            values.update(status="sent", next_follow_up_at=when)
        else:
            values.update(status="planned", planned_at=when)
        with unit_of_work(engine) as session:
            release(session, request_id=request.id, token=token, values=values)
        return decision("deferred", reason, when)

    def finish(status: str, reason: str | None, **extra: Any) -> Decision:
        with unit_of_work(engine) as session:
            values = {"status": status, "reason": reason, **extra}
            released = release(session, request_id=request.id, token=token, values=values)
        if released and status == "failed":
            _notify_failed(engine, request.id)
        return decision(status, reason)

    def wait_for_jobber(exc: JobberError) -> Decision:
        # Jobber trouble is not the request's fault: deferred (not an attempt) with capped backoff, within quiet
        # hours as any retry, and given up only when the trouble has lasted JOBBER_GIVE_UP_AFTER.
        stored = dict(request.context or {})
        since = parse_time(stored.get(_TROUBLE_SINCE)) or now
        deferrals = int(stored.get(_TROUBLE_COUNT) or 0)
        what = f"Jobber unavailable during the re-check ({type(exc).__name__})"
        if now - since >= JOBBER_GIVE_UP_AFTER:
            hours = (now - since).total_seconds() / 3600
            return finish("failed", f"gave up after {hours:.0f} h of Jobber trouble: {what}")
        wait = JOBBER_BACKOFF.delay(deferrals + 1, retry_after=getattr(exc, "retry_after", None))
        when = outside_quiet_hours(now + wait, settings, zone)
        stored.update({_TROUBLE_SINCE: since.isoformat(), _TROUBLE_COUNT: deferrals + 1})
        values: dict[str, Any] = {
            "status": "planned",
            "planned_at": when,
            "attempts": ReviewRequest.attempts - 1,
            "context": stored,
            "reason": f"waiting for Jobber since {since:%Y-%m-%d %H:%M} UTC: {what}",
        }
        with unit_of_work(engine) as session:
            release(session, request_id=request.id, token=token, values=values)
        return decision("deferred", values["reason"], when)

    def jobber_recovered() -> None:
        # The trouble is over: the next outage starts its own clock.
        stored = dict(request.context or {})
        if _TROUBLE_SINCE in stored or _TROUBLE_COUNT in stored:
            stored.pop(_TROUBLE_SINCE, None)
            stored.pop(_TROUBLE_COUNT, None)
            request.context = stored
            with unit_of_work(engine) as session:
                session.execute(
                    update(ReviewRequest)
                    .where(ReviewRequest.id == request.id, ReviewRequest.claim_token == token)
                    .values(context=stored)
                    .execution_options(synchronize_session=False)
                )

    if not is_follow_up and request.attempts > MAX_ATTEMPTS:
        # Only claims that never reached an outcome (a worker killed or stuck past its lease, again and again)
        # get here: retries that end in put_back give up at MAX_ATTEMPTS.
        return finish(
            "failed",
            f"gave up after {request.attempts - 1} attempts that ended without an outcome "
            "(the worker crashed or its lease ran out)",
        )

    def work() -> Decision | None:
        # 2. Re-check the trigger (first message only; Make.com requests have no Jobber item to check).
        if not is_follow_up and jobber is not None and request.source != "make":
            try:
                # Jobber may not make this worker wait anywhere near its lease (an uncapped Retry-After, long retries).
                with jobber.time_budget((lease * WAIT_BUDGET_SHARE).total_seconds()):
                    problem = still_valid(
                        jobber,
                        trigger=request.trigger,
                        job_id=request.job_id,
                        trigger_item_id=request.trigger_item_id,
                        known_jobs=known_jobs if known_jobs is not None and request.job_id in known_jobs else None,
                    )
            except JOBBER_TROUBLE as exc:
                if isinstance(exc, JobberQueryTooExpensive):
                    return put_back(f"could not re-check the job in Jobber ({type(exc).__name__})", RECHECK_RETRY)
                return wait_for_jobber(exc)
            except JobberError as exc:
                return put_back(f"could not re-check the job in Jobber ({type(exc).__name__})", RECHECK_RETRY)
            jobber_recovered()
            if problem is not None:
                return finish("cancelled", problem)

        # 3. Channels as of now, then render.
        with unit_of_work(engine) as session:
            sms_out, email_out = opt_outs(
                session, settings, phone=request.recipient_phone, email=request.recipient_email
            )
        choice = choose_channels(context, settings, sms_opted_out=sms_out, email_opted_out=email_out, at_send=True)
        chosen, why_not, email_fallback = choice.channels, choice.why_not, choice.email_fallback
        if not chosen:
            if is_follow_up:
                return finish("sent", f"follow-ups stopped: {why_not}", next_follow_up_at=None)
            return finish("skipped", f"no usable contact at send time: {why_not}")
        wanted = chosen + (("email",) if email_fallback else ())
        try:
            rendered = render_messages(
                context,
                settings,
                branding,
                token=request.click_token or "",
                channels=wanted,
                follow_up=request.follow_ups_sent + 1 if is_follow_up else 0,
            )
        except ReviewTemplateError as exc:
            if is_follow_up:
                return finish("sent", f"follow-up not sent, template problem: {exc}", next_follow_up_at=None)
            return finish("failed", f"template problem: {exc}")

        # 4. Every timing rule again, on the clock, just before the provider is called.
        send_at = current()
        allowed_at = send_time(
            settings, chosen, trigger_at=_trigger_at(request, send_at), now=send_at, zone=zone, follow_up=is_follow_up
        )
        if allowed_at > send_at:
            early = (
                not is_follow_up and _trigger_at(request, send_at) + timedelta(minutes=settings.delay_minutes) > send_at
            )
            why = (
                f"the {settings.delay_minutes}-minute delay after the trigger has not passed"
                if early
                else f"{send_at.astimezone(zone):%H:%M} is inside quiet hours "
                f"({settings.quiet_hours_start:%H:%M}-{settings.quiet_hours_end:%H:%M}, {zone.key})"
            )
            return defer(allowed_at, f"deferred to {allowed_at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}: {why}")

        # 5. Deliver on each channel through the fenced ledger.
        outcomes: dict[str, _Outcome] = {}
        for name in chosen:
            message = _message(
                request=request, step=step, channel=name, rendered=rendered, settings=settings, branding=branding,
                defaults=defaults or {},
            )  # fmt: skip
            outcomes[name] = deliver_once(
                engine, request_id=request.id, step=step, message=message, channel=channels.get(name),
                claim_token=token, renew_at=current(),
            )  # fmt: skip
            if outcomes[name].status == "lost":
                log.warning("Review request %s: %s", request.id, outcomes[name].detail)
                return None
        if email_fallback and outcomes.get("sms", _Outcome("sent")).status == "failed":
            message = _message(
                request=request, step=step, channel="email", rendered=rendered, settings=settings, branding=branding,
                defaults=defaults or {},
            )  # fmt: skip
            outcomes["email"] = deliver_once(
                engine, request_id=request.id, step=step, message=message, channel=channels.email,
                claim_token=token, renew_at=current(),
            )  # fmt: skip
            if outcomes["email"].status == "lost":
                log.warning("Review request %s: %s", request.id, outcomes["email"].detail)
                return None

        # 6. Release with the outcome.
        pending = [o for o in outcomes.values() if o.status in ("transient", "unknown")]
        if pending:
            retry_after = max((o.retry_after or 0.0 for o in pending), default=0.0) or None
            delay = SEND_BACKOFF.delay(request.attempts, retry_after=retry_after)
            if any(o.status == "unknown" for o in pending):
                delay = min(delay, timedelta(minutes=1))
            return put_back("; ".join(f"{k}: {o.detail}" for k, o in outcomes.items() if o in pending), delay)
        sent = [k for k, o in outcomes.items() if o.status == "sent"]
        failures = "; ".join(f"{k}: {o.detail}" for k, o in outcomes.items() if o.status == "failed") or None
        if not sent:
            if is_follow_up:
                return finish("sent", f"follow-up failed: {failures}", next_follow_up_at=None)
            return finish("failed", failures)
        done = request.follow_ups_sent + 1 if is_follow_up else 0
        next_at: datetime | None = None
        if done < settings.follow_ups:
            next_at = outside_quiet_hours(now + timedelta(days=settings.follow_up_after_days), settings, zone)
        values: dict[str, Any] = {"status": "sent", "reason": failures, "next_follow_up_at": next_at}
        if is_follow_up:
            values["follow_ups_sent"] = done
        else:
            values["sent_at"] = now
        with unit_of_work(engine) as session:
            release(session, request_id=request.id, token=token, values=values)
        return decision("sent", f"{step} by {'+'.join(sent)}" + (f" ({failures})" if failures else ""), now)

    try:
        return work()
    except Exception as exc:
        # An unexpected error (a bug, a database hiccup): planned again with backoff and a recorded reason, and
        # given up after MAX_ATTEMPTS like any other retry, instead of being re-claimed after every lease forever.
        # The ledger makes the retry safe: a delivery left `sending` is reconciled before anything is re-sent.
        log.exception("Review request %s could not be processed", request_id)
        try:
            reason = f"unexpected error: {type(exc).__name__}: {exc}"[:500]
            return put_back(reason, SEND_BACKOFF.delay(request.attempts))
        except Exception:
            log.exception("Review request %s: the error could not be recorded; the lease expiry retries it", request_id)
            raise exc from None


def _trigger_at(request: ReviewRequest, default: datetime) -> datetime:
    """When the request's trigger happened (recorded at planning), else `default`."""
    return parse_time((request.context or {}).get("trigger_at")) or default


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
            ids = due_request_ids(session, now=now(), lease=lease, limit=limit)
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
