"""Every trigger with every channel, end to end against the sandbox: event -> plan -> dispatch -> provider."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from sandbox.jobber import SandboxServer
from tasks.jobber.client import JobberClient
from tasks.reviews.settings import TRIGGERS
from tasks.reviews.usecases.plan import plan_from_event
from tasks.reviews.usecases.send import Channels, dispatch_due
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest
from tests.reviews.conftest import BRANDING, review_settings

CHANNEL_MODES = ("sms", "email", "both", "sms_then_email")


def _john_job(sb: SandboxServer) -> Any:
    return next(j for j in sb.store.jobs if j.job_number == 1042)


def _events(sb: SandboxServer, since: int, *topics: str) -> list[Any]:
    return [e for e in sb.store.events[since:] if e.topic in topics]


def fire(sb: SandboxServer, trigger: str) -> list[Any]:
    """Make John Smith's job #1042 fire `trigger` in the sandbox; return every webhook event it sent."""
    job = _john_job(sb)
    mark = len(sb.store.events)
    if trigger == "job_closed":
        sb.store.close_job(job_id=job.id)
    elif trigger == "visit_completed":
        sb.store.complete_visit(job.visits[0].id)
    elif trigger == "invoice_created":
        sb.store.create_invoice(job_id=job.id)
    else:
        invoice = sb.store.create_invoice(job_id=job.id)
        sb.store.mark_invoice_paid(invoice.id)
    return list(sb.store.events[mark:])


def run_events(client: JobberClient, engine: Engine, events: list[Any], **settings: Any) -> list[str]:
    chosen = review_settings(**settings)
    return [
        plan_from_event(
            client,
            engine,
            topic=e.topic,
            item_id=e.item_id,
            occurred_at=e.occurred_at,
            settings=chosen,
            branding=BRANDING,
        ).status
        for e in events
    ]


@pytest.mark.parametrize("trigger", TRIGGERS)
@pytest.mark.parametrize("mode", CHANNEL_MODES)
def test_every_trigger_with_every_channel_sends_once(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels, trigger: str, mode: str
) -> None:
    sb, client = live
    events = fire(sb, trigger)
    statuses = run_events(client, engine, events, trigger=trigger, channels=mode)
    assert statuses.count("planned") == 1, statuses

    result = dispatch_due(engine, channels=channels, jobber=client)
    assert result.count("sent") == 1, result.decisions

    sms = list(channels.sms.sent)  # type: ignore[attr-defined]
    emails = list(channels.email.sent)  # type: ignore[attr-defined]
    expected_sms = 1 if mode in ("sms", "both", "sms_then_email") else 0
    expected_email = 1 if mode in ("email", "both") else 0
    assert (len(sms), len(emails)) == (expected_sms, expected_email)
    for message in sms:
        assert message.to == "+15125550142"
        assert message.body.startswith("Hi John! How was your Water Heater Installation with Mike? ")
        assert "/r/" in message.body and "g.page" not in message.body  # the tracked link, not the raw one
    for message in emails:
        assert message.to == "john.smith@example.com"
        assert message.unsubscribe_url and "/u/" in message.unsubscribe_url

    # Replaying every event again (duplicate webhooks) plans nothing new and sends nothing more.
    again = run_events(client, engine, events, trigger=trigger, channels=mode)
    assert "planned" not in again
    assert dispatch_due(engine, channels=channels, jobber=client).decisions == []
    assert len(channels.sms.sent) + len(channels.email.sent) == expected_sms + expected_email  # type: ignore[attr-defined]


def test_three_visit_completes_for_one_job_make_one_request(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels
) -> None:
    sb, client = live
    job = _john_job(sb)
    sb.store.visit_create(job.id, [{"title": "Second"}, {"title": "Third"}])
    mark = len(sb.store.events)
    for visit in list(job.visits):
        sb.store.complete_visit(visit.id)
    completes = _events(sb, mark, "VISIT_COMPLETE")
    assert len(completes) == 3
    statuses = run_events(client, engine, completes, trigger="visit_completed", channels="sms")
    assert statuses == ["planned", "duplicate", "duplicate"]
    dispatch_due(engine, channels=channels, jobber=client)
    assert len(channels.sms.sent) == 1  # type: ignore[attr-defined]


def test_invoice_update_awaiting_payment_does_nothing_then_paid_sends_one(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels
) -> None:
    sb, client = live
    job = _john_job(sb)
    invoice = sb.store.create_invoice(job_id=job.id)
    mark = len(sb.store.events)
    sb.store.invoice_edit(invoice.id, {"subject": "Water heater"})  # INVOICE_UPDATE while awaiting_payment
    assert run_events(client, engine, _events(sb, mark, "INVOICE_UPDATE"), trigger="invoice_paid") == ["ignored"]
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(ReviewRequest)) == 0

    mark = len(sb.store.events)
    sb.store.mark_invoice_paid(invoice.id)  # PAYMENT_CREATE + INVOICE_UPDATE
    statuses = run_events(client, engine, _events(sb, mark, "PAYMENT_CREATE", "INVOICE_UPDATE"), trigger="invoice_paid")
    assert sorted(statuses) == ["duplicate", "planned"]
    dispatch_due(engine, channels=channels, jobber=client)
    assert len(channels.sms.sent) == 1  # type: ignore[attr-defined]


def test_job_reopened_before_send_is_cancelled_with_reason(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels
) -> None:
    sb, client = live
    job = _john_job(sb)
    events = fire(sb, "job_closed")
    assert "planned" in run_events(client, engine, events)
    sb.store.job_reopen(job_id=job.id)
    result = dispatch_due(engine, channels=channels, jobber=client)
    assert [d.status for d in result.decisions] == ["cancelled"]
    assert "reopened" in (result.decisions[0].reason or "")
    assert channels.sms.attempts == [] and channels.email.attempts == []  # type: ignore[attr-defined]
    with unit_of_work(engine) as session:
        row = session.scalars(select(ReviewRequest)).one()
        assert (row.status, row.reason) == ("cancelled", result.decisions[0].reason)


def test_invoice_unpaid_before_send_is_cancelled(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels
) -> None:
    sb, client = live
    events = fire(sb, "invoice_paid")
    assert "planned" in run_events(client, engine, events, trigger="invoice_paid")
    invoice = sb.store.invoices[-1]
    sb.store.mark_invoice_unpaid(invoice.id)
    result = dispatch_due(engine, channels=channels, jobber=client)
    assert [d.status for d in result.decisions] == ["cancelled"]
    assert "no longer paid" in (result.decisions[0].reason or "")


@pytest.mark.parametrize("topic", ["JOB_COMPLETE", "INVOICE_PAID"])
def test_topics_that_do_not_exist_are_explained(
    live: tuple[SandboxServer, JobberClient], engine: Engine, topic: str
) -> None:
    _, client = live
    decision = plan_from_event(client, engine, topic=topic, item_id="x", settings=review_settings(), branding=BRANDING)
    assert decision.status == "ignored"
    assert "no" in (decision.reason or "") and "topic" in (decision.reason or "")


def test_job_update_of_an_open_job_is_ignored(live: tuple[SandboxServer, JobberClient], engine: Engine) -> None:
    sb, client = live
    job = _john_job(sb)
    mark = len(sb.store.events)
    sb.store.job_edit(job.id, {"title": "Water Heater Installation"})
    assert run_events(client, engine, _events(sb, mark, "JOB_UPDATE")) == ["ignored"]
