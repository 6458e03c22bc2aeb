"""Issue 10: a Twilio 5xx is an unknown outcome, reconciled with Twilio's message list on what was
actually sent (the stored body and number), never re-sent blindly. Official SDK against the local
Twilio stand-in."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tasks.reviews.decision import Decision
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.plan import plan_request
from tasks.reviews.usecases.send import dispatch_due
from tasks.store.db import unit_of_work
from tasks.store.models import Delivery
from tests.delivery.fake_twilio import FakeTwilio, Scripted
from tests.reviews.conftest import BRANDING, NOW, job_node, review_settings, twilio_channels


def plan(engine: Engine, settings: ReviewSettings) -> Decision:
    return plan_request(
        engine,
        context=context_from_job(job_node()),
        settings=settings,
        branding=BRANDING,
        account_key="default",
        trigger_item_id="Z2lkOi8vSm9iYmVyL0pvYi8x",
        trigger_at=NOW,
        source="webhook",
        now=NOW,
    )


def posts(fake: FakeTwilio) -> int:
    return sum(1 for method, _, _ in fake.requests if method == "POST")


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_twilio_5xx_after_twilio_accepted_is_reconciled_not_resent(
    engine: Engine, twilio: FakeTwilio, status: int
) -> None:
    plan(engine, review_settings(channels="sms"))
    channels = twilio_channels(twilio)
    twilio.script.append(Scripted(status=status, code=20500, message="Bad Gateway", accept=True))

    first = dispatch_due(engine, channels=channels, jobber=None, now=lambda: NOW).decisions
    assert [d.status for d in first] == ["retrying"]
    with unit_of_work(engine) as session:
        assert session.scalars(select(Delivery.status)).one() == "unknown"

    retry = dispatch_due(engine, channels=channels, jobber=None, now=lambda: NOW + timedelta(minutes=5)).decisions
    assert [d.status for d in retry] == ["sent"]
    assert len(twilio.messages) == 1, "exactly one message at Twilio"
    assert posts(twilio) == 1, "reconciled with the message list, never posted again"
    with unit_of_work(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "sent" and delivery.provider_message_id == twilio.messages[0]["sid"]


def test_a_template_edited_between_attempts_still_matches_what_was_sent(
    engine: Engine, twilio: FakeTwilio, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    sms_template = templates / "sms.txt.j2"
    sms_template.write_text("Hi {{ first_name }}! Tell us about {{ job_title }}: {{ review_url }}")
    plan(engine, review_settings(channels="sms", templates_dir=str(templates)))
    channels = twilio_channels(twilio)
    twilio.script.append(Scripted(status=502, code=20500, message="Bad Gateway", accept=True))

    dispatch_due(engine, channels=channels, jobber=None, now=lambda: NOW)
    sent_body = twilio.messages[0]["body"]
    with unit_of_work(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.body == sent_body and delivery.to_address == twilio.messages[0]["to"]

    # The contractor edits the template before the retry: a re-rendering no longer matches Twilio's copy.
    sms_template.write_text("Hello {{ first_name }}, how did we do? {{ review_url }}")
    later = sms_template.stat().st_mtime + 10
    os.utime(sms_template, (later, later))

    retry = dispatch_due(engine, channels=channels, jobber=None, now=lambda: NOW + timedelta(minutes=5)).decisions
    assert [d.status for d in retry] == ["sent"]
    assert len(twilio.messages) == 1 and posts(twilio) == 1, "recognised by the stored body, not sent twice"


def test_a_twilio_5xx_retried_inside_quiet_hours_is_recorded_sent_at_once(engine: Engine, twilio: FakeTwilio) -> None:
    """Twilio accepted the SMS at 20:45 in Austin but the answer was lost; the retry comes at 21:30, inside
    quiet hours (21:00-08:00): reading Twilio's message list is fine at night, so the request is `sent`
    now instead of `planned` for 08:00, and nothing is posted again."""
    plan(engine, review_settings(channels="sms", quiet_hours_enabled=True, quiet_hours_end="08:00"))
    channels = twilio_channels(twilio)
    twilio.script.append(Scripted(status=502, code=20500, message="Bad Gateway", accept=True))
    evening = NOW + timedelta(hours=8, minutes=45)  # 20:45 CDT: the retry is due at about 20:46
    first = dispatch_due(engine, channels=channels, jobber=None, now=lambda: evening).decisions
    assert [d.status for d in first] == ["retrying"]

    late = NOW + timedelta(hours=9, minutes=30)  # 21:30 CDT
    retry = dispatch_due(engine, channels=channels, jobber=None, now=lambda: late).decisions
    assert [d.status for d in retry] == ["sent"]
    assert len(twilio.messages) == 1 and posts(twilio) == 1, "reconciled with the message list, never posted again"
    with unit_of_work(engine) as session:
        delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "sent" and delivery.provider_message_id == twilio.messages[0]["sid"]
