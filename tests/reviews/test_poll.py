"""The polling fallback: finds what webhooks should have brought, and shares their dedupe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from sandbox.jobber import SandboxServer
from tasks.jobber.client import JobberClient
from tasks.reviews.usecases.plan import plan_from_event
from tasks.reviews.usecases.poll import poll_and_plan
from tasks.reviews.usecases.preview import preview
from tasks.reviews.usecases.send import Channels, dispatch_due
from tests.reviews.conftest import BRANDING, review_settings


def _john(sb: SandboxServer) -> object:
    return next(j for j in sb.store.jobs if j.job_number == 1042)


def test_webhook_and_poll_seeing_the_same_job_make_one_request(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels
) -> None:
    sb, client = live
    job = _john(sb)
    mark = len(sb.store.events)
    sb.store.close_job(job_id=job.id)  # type: ignore[attr-defined]
    closed = next(e for e in sb.store.events[mark:] if e.topic == "JOB_CLOSED")
    settings = review_settings()
    webhook = plan_from_event(
        client, engine, topic="JOB_CLOSED", item_id=closed.item_id, settings=settings, branding=BRANDING
    )
    assert webhook.status == "planned"
    polled = poll_and_plan(client, engine, settings=settings, branding=BRANDING)
    assert [d.status for d in polled.decisions if d.request_id == webhook.request_id] == ["duplicate"]
    dispatch_due(engine, channels=channels, jobber=client)
    # (the poll may also plan seeded jobs closed in its look-back window: count this job's messages)
    for_this_job = [
        m
        for m in channels.sms.sent  # type: ignore[attr-defined]
        if m.idempotency_key.startswith(f"{webhook.request_id}:")
    ]
    assert len(for_this_job) == 1


def test_poll_alone_catches_a_missed_webhook_and_moves_its_watermark(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels
) -> None:
    sb, client = live
    sb.store.close_job(job_id=_john(sb).id)  # type: ignore[attr-defined]
    settings = review_settings()
    first = poll_and_plan(client, engine, settings=settings, branding=BRANDING)
    assert [d.job for d in first.decisions if d.status == "planned"] == ["job #1042 Water Heater Installation"]
    assert first.watermark > datetime.now(UTC) - timedelta(minutes=5)
    second = poll_and_plan(client, engine, settings=settings, branding=BRANDING)
    assert all(d.status != "planned" for d in second.decisions)
    assert second.examined <= first.examined


def test_poll_for_paid_invoices(live: tuple[SandboxServer, JobberClient], engine: Engine) -> None:
    sb, client = live
    invoice = sb.store.create_invoice(job_id=_john(sb).id)  # type: ignore[attr-defined]
    settings = review_settings(trigger="invoice_paid")
    assert not [d for d in poll_and_plan(client, engine, settings=settings, branding=BRANDING).decisions
                if d.status == "planned" and "1042" in d.job]  # fmt: skip
    sb.store.mark_invoice_paid(invoice.id)
    planned = [d for d in poll_and_plan(client, engine, settings=settings, branding=BRANDING).decisions
               if d.status == "planned"]  # fmt: skip
    assert [d.job for d in planned] == ["job #1042 Water Heater Installation"]


def test_preview_renders_for_a_job_without_recording_or_sending(
    live: tuple[SandboxServer, JobberClient], engine: Engine
) -> None:
    sb, client = live
    shown = preview(_john(sb).id, review_settings(channels="both"), client=client, branding=BRANDING)  # type: ignore[attr-defined]
    assert shown.messages.sms is not None
    assert shown.messages.sms.body.startswith("Hi John! How was your Water Heater Installation with Mike? ")
    assert shown.channels == ("sms", "email") and shown.timezone == "America/Chicago"
    assert "SMS (1 segment(s), GSM-7)" in shown.as_text()


def test_a_busy_jobber_ends_the_poll_quietly_and_keeps_its_watermark(
    live: tuple[SandboxServer, JobberClient], engine: Engine
) -> None:
    """THROTTLED (or Jobber unreachable) mid-poll is not a failed run: the poll stops, says why, keeps
    its watermark, and the next poll reads the same window and plans what this one missed."""
    from typing import Any

    from tasks.errors import JobberRateLimited

    sb, client = live
    sb.store.close_job(job_id=_john(sb).id)  # type: ignore[attr-defined]

    class Busy:
        def paginate(self, *_a: Any, **_k: Any) -> Any:
            raise JobberRateLimited("Jobber kept answering THROTTLED")

        def execute(self, *_a: Any, **_k: Any) -> Any:
            raise JobberRateLimited("Jobber kept answering THROTTLED")

        def __getattr__(self, name: str) -> Any:
            return getattr(client, name)

    busy = poll_and_plan(Busy(), engine, settings=review_settings(), branding=BRANDING)  # type: ignore[arg-type]
    assert busy.stopped.startswith("Jobber is busy") and busy.decisions == []
    later = poll_and_plan(client, engine, settings=review_settings(), branding=BRANDING)
    assert later.stopped == "" and [d.status for d in later.decisions] == ["planned"]


def _pending_webhooks(engine: Engine, count: int, received_at: datetime) -> None:
    from tasks.store import inbox

    rows = [
        inbox.InboxRow(f"k{i}", "acc", "JOB_CLOSED", f"j{i}", "2026-12-07T10:00:00Z", "{}", received_at)
        for i in range(count)
    ]
    inbox.store_rows(engine, rows)


def test_the_poll_waits_while_the_event_path_has_an_old_backlog(
    live: tuple[SandboxServer, JobberClient], engine: Engine
) -> None:
    """Webhooks waiting longer than the event worker takes to pick them up mean it is behind: a poll would
    compete for Jobber's budget, so it waits a turn, keeping its window, and plans the job once the events
    are handled."""
    from tasks.events import queue
    from tasks.reviews.usecases.poll import BACKLOG_AGE

    sb, client = live
    sb.store.close_job(job_id=_john(sb).id)  # type: ignore[attr-defined]
    _pending_webhooks(engine, 1, datetime.now(UTC) - BACKLOG_AGE - timedelta(seconds=30))
    waiting = poll_and_plan(client, engine, settings=review_settings(), branding=BRANDING)
    assert waiting.stopped.startswith("webhooks are being handled") and waiting.examined == 0
    claim = queue.claim(engine)
    queue.finish(engine, claim.token, {e.id: "done" for e in claim.events})
    later = poll_and_plan(client, engine, settings=review_settings(), branding=BRANDING)
    assert [d.status for d in later.decisions] == ["planned"]


def test_the_poll_waits_while_the_event_path_has_a_large_backlog(
    live: tuple[SandboxServer, JobberClient], engine: Engine
) -> None:
    """More fresh webhooks waiting than the worker claims in one batch is a burst: the poll waits a turn."""
    from tasks.reviews.usecases.poll import BACKLOG_ROWS

    sb, client = live
    sb.store.close_job(job_id=_john(sb).id)  # type: ignore[attr-defined]
    _pending_webhooks(engine, BACKLOG_ROWS + 1, datetime.now(UTC))
    waiting = poll_and_plan(client, engine, settings=review_settings(), branding=BRANDING)
    assert waiting.stopped.startswith("webhooks are being handled") and waiting.examined == 0


def test_a_small_fresh_backlog_does_not_hold_the_poll_back(
    live: tuple[SandboxServer, JobberClient], engine: Engine
) -> None:
    """Under steady webhook load a few rows are always pending, being taken by the worker right now: that
    is not a backlog, and the poll runs (the chaos soak saw it put off for 45 minutes otherwise)."""
    sb, client = live
    sb.store.close_job(job_id=_john(sb).id)  # type: ignore[attr-defined]
    _pending_webhooks(engine, 10, datetime.now(UTC))
    ran = poll_and_plan(client, engine, settings=review_settings(), branding=BRANDING)
    assert ran.stopped == "" and [d.status for d in ran.decisions] == ["planned"]


def test_a_poll_put_off_past_the_bound_runs_anyway(live: tuple[SandboxServer, JobberClient], engine: Engine) -> None:
    """A backlog that never ends must not starve the poll: once it has been put off for MAX_PUT_OFF since
    its last completed pass (or since it was first put off), it runs regardless, and then yields again."""
    from tasks.reviews.usecases.poll import BACKLOG_ROWS, MAX_PUT_OFF

    sb, client = live
    sb.store.close_job(job_id=_john(sb).id)  # type: ignore[attr-defined]
    start = datetime.now(UTC)
    _pending_webhooks(engine, BACKLOG_ROWS + 1, start)
    turns = [start + timedelta(minutes=10 * i) for i in range(4)]  # the 10-minute schedule
    results = [poll_and_plan(client, engine, settings=review_settings(), branding=BRANDING, now=t) for t in turns]
    ran = [r.stopped == "" for r in results]
    assert timedelta(minutes=10) < MAX_PUT_OFF <= timedelta(minutes=20)  # one skipped turn at most
    assert ran == [False, False, True, False]
    assert [d.status for d in next(r for r in results if r.stopped == "").decisions] == ["planned"]
