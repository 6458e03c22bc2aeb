"""The Make.com path's time zone: a request without a state or time zone is planned in the account's zone,
else in the phone number's region, never in UTC by default (quiet hours are the recipient's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tasks.reviews.decision import Decision
from tasks.reviews.usecases import makecom
from tasks.reviews.usecases.makecom import MakeReviewTrigger, plan_make_request
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest, User
from tests.reviews.conftest import BRANDING, review_settings

# 09:30 UTC: 02:30 in San Francisco, 03:30 in Denver; outside the 21:00-09:00 quiet hours only in UTC.
NIGHT_IN_CALIFORNIA = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)

BODY: dict[str, Any] = {
    "job_id": "make-job-1",
    "customer_name": "Ana Lopez",
    "phone": "(415) 555-0100",
    "job_title": "Roof Repair",
    "technician": "Mike Thompson",
}


@pytest.fixture(autouse=True)
def no_jobber(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Make.com-only install: Jobber is not asked (tests that want an account zone seed the users table)."""
    monkeypatch.setattr(makecom, "jobber_account_zone", lambda account_key: None)


def plan(engine: Engine, body: dict[str, Any] | None = None, **kwargs: Any) -> Decision:
    return plan_make_request(
        engine,
        MakeReviewTrigger.model_validate(body or BODY),
        settings=review_settings(channels="sms", quiet_hours_enabled=True),
        branding=BRANDING,
        account_key="default",
        now=NIGHT_IN_CALIFORNIA,
        **kwargs,
    )


def stored_zone(engine: Engine, request_id: int | None) -> str | None:
    with unit_of_work(engine) as session:
        row = session.get(ReviewRequest, request_id)
        assert row is not None
        return row.recipient_timezone


def test_a_415_number_without_a_state_is_not_texted_at_2_30_in_the_morning(engine: Engine) -> None:
    decision = plan(engine)
    assert decision.status == "planned"
    assert decision.timezone == "America/Los_Angeles" == stored_zone(engine, decision.request_id)
    assert decision.planned_at == datetime(2026, 6, 2, 16, 0, tzinfo=UTC)  # 09:00 in San Francisco, not 02:30


def test_the_accounts_zone_comes_before_the_phone_region(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.add_all(
            [
                User(id="u1", account_key="default", full_name="Mike Thompson", timezone="America/Denver"),
                User(id="u2", account_key="default", full_name="Sam Lee", timezone="America/Denver"),
                User(id="u3", account_key="other", full_name="Elsewhere", timezone="Europe/Paris"),
            ]
        )
    decision = plan(engine)
    assert decision.timezone == "America/Denver"
    assert decision.planned_at == datetime(2026, 6, 2, 15, 0, tzinfo=UTC)  # 09:00 in Denver


def test_a_business_zone_given_by_the_caller_is_used(engine: Engine) -> None:
    decision = plan(engine, business_zone=lambda: "America/New_York")
    assert decision.timezone == "America/New_York"
    assert decision.planned_at == datetime(2026, 6, 2, 13, 0, tzinfo=UTC)  # 09:00 in New York


def test_the_requests_own_state_still_wins(engine: Engine) -> None:
    decision = plan(engine, {**BODY, "state": "TX", "country": "US"}, business_zone=lambda: "America/New_York")
    assert decision.timezone == "America/Chicago"
