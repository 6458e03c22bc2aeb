"""Exactly once under provider faults, races and crashes (both databases, recording channels)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from tasks.delivery.base import OutgoingMessage, RecordingChannel, SendResult
from tasks.errors import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError
from tasks.jobber.auth import StaticTokenProvider
from tasks.jobber.client import JobberClient
from tasks.reviews.decision import Decision
from tasks.reviews.ledger import claim
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.rules.rendering import render_messages
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.plan import plan_request
from tasks.reviews.usecases.send import DEFAULT_LEASE, Channels, dispatch_due, process_request
from tasks.store.accounts import as_utc
from tasks.store.db import unit_of_work
from tasks.store.models import Delivery, ReviewRequest
from tasks.store.optouts import is_suppressed
from tests.reviews.conftest import BRANDING, NOW, job_node, review_settings


def plan(engine: Engine, settings: ReviewSettings | None = None, now: datetime = NOW, **node: Any) -> Decision:
    return plan_request(
        engine,
        context=context_from_job(job_node(**node)),
        settings=settings or review_settings(channels="sms"),
        branding=BRANDING,
        account_key="default",
        trigger_item_id=node.get("id", "Z2lkOi8vSm9iYmVyL0pvYi8x"),
        trigger_at=now,
        source="webhook",
        now=now,
    )


def dispatch(engine: Engine, channels: Channels, at: datetime) -> list[Decision]:
    return dispatch_due(engine, channels=channels, jobber=None, now=lambda: at).decisions


def request_row(engine: Engine, request_id: int | None) -> ReviewRequest:
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, request_id)
        assert row is not None
        session.expunge(row)
        return row


def sms(channels: Channels) -> RecordingChannel:
    assert isinstance(channels.sms, RecordingChannel)
    return channels.sms


def die_mid_send(engine: Engine, channels: Channels, request_id: int, *, at: datetime, provider_got_it: bool) -> None:
    """A worker claims, writes its ledger row, (maybe) reaches the provider, and dies before recording anything."""
    with unit_of_work(engine) as session:
        assert claim(session, request_id=request_id, token="dead-worker", now=at, lease=DEFAULT_LEASE)
        session.add(
            Delivery(
                review_request_id=request_id,
                idempotency_key=f"{request_id}:initial:sms",
                kind="initial",
                channel="sms",
                to_address="+15125550142",
                body="Hi John ...",
                provider="sms-recorder",
                status="sending",
                attempts=1,
                started_at=at,
            )
        )
    if provider_got_it:
        key = f"{request_id}:initial:sms"
        sms(channels).send(OutgoingMessage(channel="sms", to="+15125550142", body="Hi John ...", idempotency_key=key))


def test_transient_error_before_the_provider_is_retried_later_and_sent_once(engine: Engine, channels: Channels) -> None:
    decision = plan(engine)
    sms(channels).fail_next(1, TransientDeliveryError("connect timeout", provider="twilio"))
    first = dispatch(engine, channels, NOW)
    assert [d.status for d in first] == ["retrying"]
    row = request_row(engine, decision.request_id)
    assert row.status == "planned" and as_utc(row.planned_at) > NOW  # type: ignore[operator]
    assert dispatch(engine, channels, NOW + timedelta(seconds=5)) == []  # not due yet: backoff
    assert [d.status for d in dispatch(engine, channels, NOW + timedelta(hours=2))] == ["sent"]
    assert len(sms(channels).sent) == 1 and len(sms(channels).attempts) == 2


@pytest.mark.parametrize("code,retry_after", [("500", None), ("429", 30.0)])
def test_provider_500_and_429_are_retried_with_backoff(
    engine: Engine, channels: Channels, code: str, retry_after: float | None
) -> None:
    decision = plan(engine)
    sms(channels).fail_next(
        1, TransientDeliveryError(f"HTTP {code}", code=code, provider="twilio", retry_after=retry_after)
    )
    dispatch(engine, channels, NOW)
    row = request_row(engine, decision.request_id)
    wait = as_utc(row.planned_at) - NOW  # type: ignore[operator]
    if retry_after is not None:
        assert wait == timedelta(seconds=retry_after)  # Retry-After honoured
    else:
        assert timedelta(seconds=40) <= wait <= timedelta(seconds=80)
    dispatch(engine, channels, NOW + timedelta(hours=1))
    assert len(sms(channels).sent) == 1


def test_timeout_after_the_provider_accepted_is_reconciled_not_resent(engine: Engine, channels: Channels) -> None:
    decision = plan(engine)
    sms(channels).fail_next(1, DeliveryOutcomeUnknown("read timeout", provider="twilio"), accepted=True)
    assert [d.status for d in dispatch(engine, channels, NOW)] == ["retrying"]
    with unit_of_work(engine) as session:
        assert session.scalars(select(Delivery.status)).one() == "unknown"
    assert [d.status for d in dispatch(engine, channels, NOW + timedelta(minutes=5))] == ["sent"]
    assert len(sms(channels).attempts) == 1  # reconciled with find_sent: never handed over twice
    assert request_row(engine, decision.request_id).status == "sent"


def test_timeout_before_the_provider_accepted_is_sent_again_once(engine: Engine, channels: Channels) -> None:
    plan(engine)
    sms(channels).fail_next(1, DeliveryOutcomeUnknown("read timeout", provider="twilio"), accepted=False)
    dispatch(engine, channels, NOW)
    dispatch(engine, channels, NOW + timedelta(minutes=5))
    assert len(sms(channels).attempts) == 2 and len(sms(channels).sent) == 1


def test_unsubscribed_21610_fails_and_suppresses_the_number(engine: Engine, channels: Channels) -> None:
    decision = plan(engine, settings=review_settings(channels="sms", cooldown_days=0))
    sms(channels).fail_next(1, PermanentDeliveryError("unsubscribed recipient", code="21610", provider="twilio"))
    assert [d.status for d in dispatch(engine, channels, NOW)] == ["failed"]
    row = request_row(engine, decision.request_id)
    assert row.status == "failed" and "21610" in (row.reason or "")
    with unit_of_work(engine) as session:
        assert is_suppressed(session, channel="sms", address="+15125550142")
    # The same customer's next job is not even attempted.
    other = plan(engine, settings=review_settings(channels="sms", cooldown_days=0), id="job-2", jobNumber=1043)
    assert other.status == "skipped" and "opted out" in (other.reason or "")


def test_sms_then_email_falls_back_to_email_when_sms_fails_permanently(engine: Engine, channels: Channels) -> None:
    plan(engine, settings=review_settings(channels="sms_then_email"))
    sms(channels).fail_next(1, PermanentDeliveryError("not a mobile number", code="21614", provider="twilio"))
    assert [d.status for d in dispatch(engine, channels, NOW)] == ["sent"]
    assert len(channels.email.sent) == 1  # type: ignore[attr-defined]


def test_concurrent_senders_racing_for_one_request_send_once(engine: Engine, channels: Channels) -> None:
    decision = plan(engine)
    assert decision.request_id is not None
    barrier = threading.Barrier(8)
    results: list[Decision | None] = []
    lock = threading.Lock()

    def race() -> None:
        barrier.wait()
        outcome = process_request(engine, decision.request_id, channels=channels, jobber=None, now=NOW)  # type: ignore[arg-type]
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results if r is not None] == ["sent"]
    assert len(sms(channels).attempts) == 1


@pytest.mark.parametrize("provider_got_it", [True, False])
def test_worker_killed_mid_send_is_reconciled_after_the_lease(
    engine: Engine, channels: Channels, provider_got_it: bool
) -> None:
    decision = plan(engine)
    request_id = decision.request_id
    assert request_id is not None
    die_mid_send(engine, channels, request_id, at=NOW, provider_got_it=provider_got_it)
    assert dispatch(engine, channels, NOW + timedelta(minutes=1)) == []  # still leased to the dead worker
    assert [d.status for d in dispatch(engine, channels, NOW + timedelta(minutes=11))] == ["sent"]
    assert len(sms(channels).sent) == 1
    assert len(sms(channels).attempts) == 1  # handed over once in both cases
    with unit_of_work(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "sent" and delivery.attempts == (1 if provider_got_it else 2)


def test_twenty_percent_faults_lose_nothing_and_duplicate_nothing(engine: Engine, channels: Channels) -> None:
    rng = random.Random(5)
    settings = review_settings(channels="both", cooldown_days=0)
    for i in range(30):
        plan(
            engine,
            settings=settings,
            id=f"job-{i}",
            jobNumber=2000 + i,
            client={
                **job_node()["client"],
                "id": f"c{i}",
                "phones": [{"number": f"+1512555{i:04d}", "primary": True, "smsAllowed": True}],
                "emails": [{"address": f"c{i}@example.com", "primary": True}],
            },
        )
    errors = [
        (TransientDeliveryError("HTTP 503", code="503"), False),
        (TransientDeliveryError("HTTP 429", code="429", retry_after=1), False),
        (DeliveryOutcomeUnknown("read timeout"), True),
        (DeliveryOutcomeUnknown("connect timeout"), False),
    ]
    at = NOW
    for _ in range(40):
        for channel in (channels.sms, channels.email):
            assert isinstance(channel, RecordingChannel)
            if rng.random() < 0.2:
                error, accepted = rng.choice(errors)
                channel.fail_next(1, error, accepted=accepted)
        dispatch(engine, channels, at)
        at += timedelta(hours=1)
    with unit_of_work(engine) as session:
        statuses = list(session.scalars(select(ReviewRequest.status)))
    assert statuses.count("sent") == 30, statuses
    for channel in (channels.sms, channels.email):
        keys = [m.idempotency_key for m in channel.sent]  # type: ignore[attr-defined]
        assert len(keys) == 30 and len(set(keys)) == 30


def test_follow_up_is_sent_after_n_days_and_only_until_a_click(engine: Engine, channels: Channels) -> None:
    settings = review_settings(channels="sms", follow_ups=2, follow_up_after_days=3)
    decision = plan(engine, settings=settings)
    dispatch(engine, channels, NOW)
    assert dispatch(engine, channels, NOW + timedelta(days=2)) == []
    assert [d.status for d in dispatch(engine, channels, NOW + timedelta(days=3, minutes=1))] == ["sent"]
    assert "reminder" in sms(channels).sent[-1].body
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, decision.request_id)
        assert row is not None and row.follow_ups_sent == 1
        row.clicked_at = NOW + timedelta(days=4)
    assert dispatch(engine, channels, NOW + timedelta(days=7)) == []
    assert len(sms(channels).sent) == 2


def test_a_reply_or_an_opt_out_stops_follow_ups(engine: Engine, channels: Channels) -> None:
    settings = review_settings(channels="sms", follow_ups=2, follow_up_after_days=3, cooldown_days=0)
    first = plan(engine, settings=settings)
    dispatch(engine, channels, NOW)
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, first.request_id)
        assert row is not None
        row.replied_at = NOW + timedelta(hours=1)
    assert dispatch(engine, channels, NOW + timedelta(days=3, minutes=1)) == []

    second = plan(
        engine,
        settings=settings,
        id="job-2",
        jobNumber=1043,
        client_phones=[{"number": "+15125550199", "primary": True, "smsAllowed": True}],
    )
    dispatch(engine, channels, NOW)
    from tasks.store.optouts import suppress

    with unit_of_work(engine) as session:
        suppress(session, channel="sms", address="+15125550199", reason="stop", source="test")
    decisions = dispatch(engine, channels, NOW + timedelta(days=3, minutes=1))
    assert [(d.status, d.request_id) for d in decisions] == [("sent", second.request_id)]
    assert "follow-ups stopped" in (decisions[0].reason or "")
    assert len(sms(channels).sent) == 2  # the two first messages, no follow-up


def test_dry_run_renders_and_records_but_sends_nothing(engine: Engine, channels: Channels) -> None:
    decision = plan(engine, settings=review_settings(channels="both", dry_run=True))
    assert decision.status == "skipped" and "dry run" in (decision.reason or "")
    row = request_row(engine, decision.request_id)
    assert row.context["dry_run"]["sms"].startswith("Hi John! How was your Water Heater Installation with Mike?")
    assert dispatch(engine, channels, NOW + timedelta(days=1)) == []
    assert sms(channels).attempts == []


def test_a_worker_that_lost_its_claim_after_the_lease_sends_nothing(
    engine: Engine, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker A claims and stalls past the 10-minute lease; worker B takes the request over and is handing the
    SMS to Twilio when A wakes up. A's claim is fenced: it finds no claim to renew and never calls Twilio.
    The customer gets one SMS, not two."""
    decision = plan(engine)
    request_id = decision.request_id
    assert request_id is not None
    b_in_send, b_may_finish = threading.Event(), threading.Event()

    class SlowForB(RecordingChannel):
        def send(self, message: OutgoingMessage) -> SendResult:
            if threading.current_thread().name == "worker-b":
                b_in_send.set()  # B's ledger row is committed, its request to Twilio is on the way
                b_may_finish.wait(10)
            return super().send(message)

    twilio = SlowForB("sms-recorder")
    both = Channels(sms=twilio, email=channels.email)
    b_results: list[Decision | None] = []
    worker_b = threading.Thread(
        target=lambda: b_results.append(
            process_request(engine, request_id, channels=both, jobber=None, now=NOW + timedelta(minutes=11))
        ),
        name="worker-b",
    )
    real_render = render_messages
    stalled = False

    def render_after_a_stall(*args: Any, **kwargs: Any) -> Any:
        nonlocal stalled
        if not stalled:  # worker A, the first to get here: it stalls while B takes over
            stalled = True
            worker_b.start()
            assert b_in_send.wait(10)
        return real_render(*args, **kwargs)

    monkeypatch.setattr("tasks.reviews.usecases.send.render_messages", render_after_a_stall)
    a_result = process_request(engine, request_id, channels=both, jobber=None, now=NOW)
    b_may_finish.set()
    worker_b.join(10)
    assert len(twilio.attempts) == 1 and len(twilio.sent) == 1, "one SMS, not two"
    assert a_result is None, "the worker that lost its claim reports nothing"
    assert [d.status for d in b_results if d is not None] == ["sent"]
    row = request_row(engine, request_id)
    assert row.status == "sent" and row.claim_token is None
    with unit_of_work(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "sent" and delivery.attempts == 1


def test_jobber_waits_inside_a_claim_are_capped_well_below_the_lease(engine: Engine, channels: Channels) -> None:
    """The re-check in Jobber answers 429 with Retry-After: 3600. The worker must not sleep through its
    10-minute lease (another worker would take over): it gives up quickly and defers the request (Jobber
    trouble is not an attempt) to the time Jobber asked for."""
    decision = plan(engine)
    slept: list[float] = []
    jobber = JobberClient(
        graphql_url="https://jobber.test/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider("tok"),
        transport=httpx.MockTransport(lambda request: httpx.Response(429, headers={"Retry-After": "3600"})),
        sleep=slept.append,
    )
    result = process_request(engine, decision.request_id, channels=channels, jobber=jobber, now=NOW)  # type: ignore[arg-type]
    assert result is not None and result.status == "deferred"
    assert sum(slept) <= DEFAULT_LEASE.total_seconds() / 4, f"waited {sum(slept)} s inside a 10-minute lease"
    assert sms(channels).attempts == []
    row = request_row(engine, decision.request_id)
    assert row.status == "planned" and row.attempts == 0
    assert as_utc(row.planned_at) == NOW + timedelta(hours=1), "Retry-After: 3600 is honoured"


def test_a_late_dispatch_defers_to_the_morning_instead_of_sending_at_night(engine: Engine, channels: Channels) -> None:
    """Planned for 15:00 in Austin, but the dispatcher only gets to it at 02:30 (a backlog after an outage):
    the quiet hours are checked again just before sending, in the recipient's zone."""
    settings = review_settings(channels="sms", quiet_hours_enabled=True)  # 21:00-09:00
    afternoon = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 15:00 CDT
    decision = plan(engine, settings=settings, now=afternoon)
    assert decision.planned_at == afternoon and decision.timezone == "America/Chicago"
    night = datetime(2026, 6, 2, 7, 30, tzinfo=UTC)  # 02:30 CDT
    decisions = dispatch(engine, channels, night)
    assert [d.status for d in decisions] == ["deferred"]
    assert sms(channels).attempts == [], "nothing sent at 02:30"
    morning = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)  # 09:00 CDT
    row = request_row(engine, decision.request_id)
    assert row.status == "planned" and as_utc(row.planned_at) == morning
    assert "quiet hours" in (row.reason or "") and "America/Chicago" in (row.reason or "")
    assert row.attempts == 0, "a deferral is not a failed attempt"
    assert dispatch(engine, channels, morning - timedelta(minutes=1)) == []
    assert [d.status for d in dispatch(engine, channels, morning)] == ["sent"]
    assert len(sms(channels).sent) == 1


def test_a_follow_up_due_in_the_evening_waits_for_the_morning(engine: Engine, channels: Channels) -> None:
    settings = review_settings(channels="sms", quiet_hours_enabled=True, follow_ups=1, follow_up_after_days=3)
    decision = plan(engine, settings=settings)  # NOW is 12:00 CDT: sent at once
    assert [d.status for d in dispatch(engine, channels, NOW)] == ["sent"]
    late = NOW + timedelta(days=3, hours=10, minutes=30)  # 22:30 CDT, three days later
    assert [d.status for d in dispatch(engine, channels, late)] == ["deferred"]
    assert len(sms(channels).sent) == 1, "no reminder at 22:30"
    row = request_row(engine, decision.request_id)
    assert row.status == "sent" and as_utc(row.next_follow_up_at) == datetime(2026, 6, 5, 14, 0, tzinfo=UTC)
    assert [d.status for d in dispatch(engine, channels, datetime(2026, 6, 5, 14, 0, tzinfo=UTC))] == ["sent"]
    assert len(sms(channels).sent) == 2


class _JobberOutage:
    """A Jobber client stand-in for the re-check: raises `error` until `back_at`, then answers."""

    def __init__(self, error: Exception, back_at: datetime) -> None:
        self.error, self.back_at, self.calls = error, back_at, 0
        self.at = NOW

    def time_budget(self, seconds: float) -> Any:
        import contextlib

        return contextlib.nullcontext()

    def still_valid(self, *args: Any, **kwargs: Any) -> str | None:
        self.calls += 1
        if self.at < self.back_at:
            raise self.error
        return None


def _with_outage(monkeypatch: pytest.MonkeyPatch, outage: _JobberOutage) -> None:
    import tasks.reviews.usecases.send as sending
    from tasks.errors import JobberTransportError

    def job_states(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise JobberTransportError("batched re-check: Jobber unreachable")

    monkeypatch.setattr(sending, "still_valid", outage.still_valid)
    monkeypatch.setattr(sending, "job_states", job_states)


@pytest.mark.parametrize("error_name", ["transport", "throttled", "reconnect"])
def test_a_six_hour_jobber_outage_defers_the_request_and_it_goes_out_once_afterwards_by_day(
    engine: Engine, channels: Channels, monkeypatch: pytest.MonkeyPatch, error_name: str
) -> None:
    from tasks.errors import JobberRateLimited, JobberTransportError, ReconnectRequired

    error: Exception = {
        "transport": JobberTransportError("connection refused"),
        "throttled": JobberRateLimited("THROTTLED", retry_after=30.0),
        "reconnect": ReconnectRequired("refresh token revoked: reconnect Jobber"),
    }[error_name]
    settings = review_settings(channels="sms", quiet_hours_enabled=True)  # 21:00-09:00
    afternoon = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 15:00 CDT
    decision = plan(engine, settings=settings, now=afternoon)
    back = afternoon + timedelta(hours=6)  # Jobber is back at 21:00 CDT: quiet hours have begun
    outage = _JobberOutage(error, back_at=back)
    _with_outage(monkeypatch, outage)
    statuses: list[str] = []
    at = afternoon
    while at < afternoon + timedelta(hours=20):
        outage.at = at
        decisions = dispatch_due(engine, channels=channels, jobber=outage, now=lambda at=at: at).decisions  # type: ignore[arg-type,misc]
        statuses += [d.status for d in decisions]
        if "sent" in statuses:
            break
        at += timedelta(minutes=5)
    assert "failed" not in statuses and statuses.count("sent") == 1, statuses
    assert outage.calls >= 8, "the request kept trying through the outage"
    assert len(sms(channels).sent) == 1
    row = request_row(engine, decision.request_id)
    assert row.status == "sent" and row.attempts == 1, "waiting for Jobber is not an attempt"
    sent_at = as_utc(row.sent_at)
    assert sent_at is not None and sent_at >= back
    assert sent_at == datetime(2026, 6, 2, 14, 0, tzinfo=UTC), "not at night: at 09:00 CDT the next morning"
    assert "jobber_trouble_since" not in (row.context or {})


def test_jobber_trouble_for_a_day_fails_the_request_and_tells_slack(
    engine: Engine, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks.errors import JobberTransportError
    from tasks.store.models import SlackOutbox

    decision = plan(engine)
    outage = _JobberOutage(JobberTransportError("connection refused"), back_at=NOW + timedelta(days=3))
    _with_outage(monkeypatch, outage)
    statuses: list[str] = []
    for hour in range(0, 30):
        outage.at = at = NOW + timedelta(hours=hour)
        decisions = dispatch_due(engine, channels=channels, jobber=outage, now=lambda at=at: at).decisions  # type: ignore[arg-type,misc]
        statuses += [d.status for d in decisions]
    assert statuses.count("failed") == 1 and "sent" not in statuses
    row = request_row(engine, decision.request_id)
    assert row.status == "failed" and "Jobber trouble" in (row.reason or "")
    with unit_of_work(engine) as session:
        (note,) = session.scalars(select(SlackOutbox)).all()
        assert note.kind == "review_failed" and str(decision.request_id) in note.dedupe_key


def test_an_unexpected_error_is_retried_with_backoff_then_given_up_and_reported(
    engine: Engine, channels: Channels, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.reviews.usecases.send as sending
    from tasks.store.models import SlackOutbox

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in rendering")

    monkeypatch.setattr(sending, "render_messages", broken)
    decision = plan(engine)
    for hour in range(0, 48):
        dispatch(engine, channels, NOW + timedelta(hours=hour))
    row = request_row(engine, decision.request_id)
    assert row.status == "failed", "not re-claimed every 10 minutes forever"
    assert row.attempts == 8 and "unexpected error: RuntimeError: a bug in rendering" in (row.reason or "")
    assert sms(channels).attempts == []
    with unit_of_work(engine) as session:
        (note,) = session.scalars(select(SlackOutbox)).all()
        assert note.kind == "review_failed"


def test_claims_that_never_reach_an_outcome_are_given_up_after_max_attempts(engine: Engine, channels: Channels) -> None:
    """A worker killed mid-request again and again (kill -9: no exception handler runs): the lease expiry
    re-claims it, and after MAX_ATTEMPTS such claims it is failed with the reason, not retried forever."""
    decision = plan(engine)
    at = NOW
    for _ in range(12):
        with unit_of_work(engine) as session:
            claim(session, request_id=decision.request_id, token="dead-worker", now=at, lease=DEFAULT_LEASE)  # type: ignore[arg-type]
        at += DEFAULT_LEASE + timedelta(minutes=1)
    assert [d.status for d in dispatch(engine, channels, at)] == ["failed"]
    row = request_row(engine, decision.request_id)
    assert row.status == "failed" and "without an outcome" in (row.reason or "")
    assert sms(channels).attempts == []


@pytest.mark.parametrize("provider_got_it", [True, False])
def test_a_delivery_left_sending_is_reconciled_before_a_quiet_hours_deferral(
    engine: Engine, channels: Channels, provider_got_it: bool
) -> None:
    """The chaos soak's case: a worker wrote its `sending` row at 21:15 in Austin, (maybe) reached Twilio,
    and died; the takeover comes at 21:30, inside quiet hours (21:00-08:00). Asking the provider is a read,
    fine at any hour: a message it has is recorded sent at once (not `planned` until 08:00); one it does
    not have still waits for the morning, never sent at night."""
    settings = review_settings(channels="sms", quiet_hours_enabled=True, quiet_hours_end="08:00")
    decision = plan(engine, settings=settings)
    request_id = decision.request_id
    assert request_id is not None
    evening = datetime(2026, 6, 2, 2, 15, tzinfo=UTC)  # 21:15 CDT
    die_mid_send(engine, channels, request_id, at=evening, provider_got_it=provider_got_it)
    retry = datetime(2026, 6, 2, 2, 30, tzinfo=UTC)  # 21:30 CDT, the lease has run out
    decisions = dispatch(engine, channels, retry)
    row = request_row(engine, request_id)
    with unit_of_work(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        delivery_status = delivery.status
    if provider_got_it:
        assert [d.status for d in decisions] == ["sent"]
        assert row.status == "sent" and as_utc(row.sent_at) == retry
        assert delivery_status == "sent"
        assert len(sms(channels).attempts) == 1, "reconciled, not handed over again"
        return
    morning = datetime(2026, 6, 2, 13, 0, tzinfo=UTC)  # 08:00 CDT
    assert [d.status for d in decisions] == ["deferred"]
    assert row.status == "planned" and as_utc(row.planned_at) == morning
    assert sms(channels).attempts == [], "nothing sent at 21:30"
    assert [d.status for d in dispatch(engine, channels, morning)] == ["sent"]
    assert len(sms(channels).sent) == 1
