"""Eligibility: every "no" is recorded with its reason (both databases)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tasks.reviews.decision import Decision
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.plan import plan_request
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest
from tasks.store.optouts import suppress
from tests.reviews.conftest import BRANDING, NOW, job_node, review_settings


def plan(engine: Engine, settings: ReviewSettings, **node: Any) -> Decision:
    return plan_request(
        engine,
        context=context_from_job(job_node(**node)),
        settings=settings,
        branding=BRANDING,
        account_key="default",
        trigger_item_id="x",
        trigger_at=NOW,
        source="webhook",
        now=NOW,
    )


@pytest.mark.parametrize(
    "node,settings,reason",
    [
        ({"client_tags": {"nodes": [{"label": "No-Review"}]}}, {}, "tag 'no-review'"),
        ({"client_isArchived": True}, {}, "archived"),
        ({"allowReviewRequest": False}, {}, "turned off for this job in Jobber"),
        ({"total": 90.0}, {"minimum_total": 100}, "below the minimum 100.00"),
        ({"client_phones": [{"number": "+15125550142", "primary": True, "smsAllowed": False}]}, {"channels": "sms"},
         "smsAllowed is false"),
        ({"client_phones": []}, {"channels": "sms"}, "no phone number"),
        ({"client_phones": [{"number": "12", "primary": True, "smsAllowed": True}]}, {"channels": "sms"},
         "not a valid mobile number"),
        ({"client_emails": []}, {"channels": "email"}, "no email address"),
        ({"client_emails": [], "client_phones": []}, {"channels": "both"}, "no usable contact"),
    ],
)  # fmt: skip
def test_each_no_is_recorded_with_its_reason(
    engine: Engine, node: dict[str, Any], settings: dict[str, Any], reason: str
) -> None:
    decision = plan(engine, review_settings(**settings), **node)
    assert decision.status == "skipped"
    assert reason in (decision.reason or "")
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, decision.request_id)
        assert row is not None and row.status == "skipped" and reason in (row.reason or "")


def test_sms_then_email_falls_back_to_email_without_an_sms_capable_phone(engine: Engine) -> None:
    phones = [{"number": "+15125550142", "primary": True, "smsAllowed": False}]
    decision = plan(engine, review_settings(channels="sms_then_email"), client_phones=phones)
    assert (decision.status, decision.channel) == ("planned", "email")


def test_opted_out_numbers_and_unsubscribed_emails_are_honoured(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        suppress(session, channel="sms", address="(512) 555-0142", reason="stop", source="test")
        suppress(session, channel="email", address="John.Smith@Example.com", reason="unsubscribe", source="test")
    decision = plan(engine, review_settings(channels="both"))
    assert decision.status == "skipped"
    assert "opted out of SMS" in (decision.reason or "") and "unsubscribed" in (decision.reason or "")


def test_cooldown_per_client_and_one_request_per_job(engine: Engine) -> None:
    settings = review_settings(cooldown_days=180)
    first = plan(engine, settings)
    assert first.status == "planned"
    assert plan(engine, settings).status == "duplicate"  # same job: one request, ever
    second_job = plan(engine, settings, id="job-2", jobNumber=1043)
    assert second_job.status == "skipped" and "cooldown" in (second_job.reason or "")
    # The same person reached by phone under another Jobber client id is still in cooldown.
    other_id = plan(engine, settings, id="job-3", jobNumber=1044, client_id="client-dup")
    assert other_id.status == "skipped" and "cooldown" in (other_id.reason or "")


def test_cooldown_ends(engine: Engine) -> None:
    settings = review_settings(cooldown_days=30)
    plan(engine, settings)
    later = plan_request(
        engine,
        context=context_from_job(job_node(id="job-2", jobNumber=1043)),
        settings=settings,
        branding=BRANDING,
        account_key="default",
        trigger_item_id="x",
        trigger_at=NOW + timedelta(days=31),
        source="webhook",
        now=NOW + timedelta(days=31),
    )
    assert later.status == "planned"


def test_a_trigger_older_than_the_limit_is_ignored_without_a_row(engine: Engine) -> None:
    decision = plan_request(
        engine,
        context=context_from_job(job_node()),
        settings=review_settings(max_trigger_age_days=14),
        branding=BRANDING,
        account_key="default",
        trigger_item_id="x",
        trigger_at=NOW - timedelta(days=20),
        source="poll",
        now=NOW,
    )
    assert decision.status == "ignored" and decision.request_id is None
