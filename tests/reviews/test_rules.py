"""The rules without a database: the same facts give the same answer at planning and at send time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tasks.reviews.rules.channels import choose_channels
from tasks.reviews.rules.eligibility import ClientFacts, RecentRequest, assess
from tasks.reviews.rules.mapping import context_from_job
from tasks.reviews.rules.plan import decide_plan
from tasks.reviews.rules.timing import outside_quiet_hours, send_time
from tests.reviews.conftest import BRANDING, job_node, review_settings

ZONE = ZoneInfo("America/New_York")


def test_cooldown_and_opt_outs_are_facts_the_rules_receive() -> None:
    context = context_from_job(job_node())
    settings = review_settings()
    assert assess(context, settings, ClientFacts()).channels == ("sms",)
    cooled = assess(context, settings, ClientFacts(recent=RecentRequest("job-9", 977)))
    assert not cooled.eligible and cooled.reason == "client in cooldown: asked for job #977 within 180 days"
    assert assess(context, settings, ClientFacts(sms_opted_out=True)).channels == ("email",)
    nothing = assess(context, settings, ClientFacts(sms_opted_out=True, email_opted_out=True))
    assert nothing.reason == "no usable contact: opted out of SMS (STOP); unsubscribed from email"


def test_one_channel_choice_for_planning_and_sending() -> None:
    context = context_from_job(job_node())
    settings = review_settings(channels="sms_then_email")
    planned = choose_channels(context, settings)
    assert planned.channels == ("sms",) and planned.email_fallback
    at_send = choose_channels(context, settings, sms_opted_out=True, at_send=True)
    assert at_send.channels == ("email",) and not at_send.email_fallback
    assert at_send.why_not == "opted out of SMS (STOP) before sending"
    both = choose_channels(context, review_settings(channels="both"))
    assert both.channels == ("sms", "email") and not both.email_fallback


def test_one_send_time_for_first_messages_and_follow_ups() -> None:
    settings = review_settings(delay_minutes=120, quiet_hours_enabled=True)
    evening = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 19:30 in New York
    first = send_time(settings, ("sms",), trigger_at=evening, now=evening, zone=ZONE)
    assert first.astimezone(ZONE).strftime("%Y-%m-%d %H:%M") == "2026-06-02 09:00"  # 21:30 is quiet
    follow_up = send_time(settings, ("sms",), trigger_at=evening - timedelta(days=9), now=evening, zone=ZONE,
                          follow_up=True)  # fmt: skip
    assert follow_up == evening  # no delay for a follow-up, and 19:30 is allowed
    assert send_time(settings, ("email",), trigger_at=evening, now=evening, zone=ZONE) == evening + timedelta(hours=2)
    late = datetime(2026, 6, 2, 2, 0, tzinfo=UTC)  # 22:00 in New York
    assert outside_quiet_hours(late, settings, ZONE).astimezone(ZONE).hour == 9
    assert outside_quiet_hours(late, review_settings(), ZONE) == late


def test_the_planning_decision_is_a_function_of_the_facts() -> None:
    context = context_from_job(job_node())
    settings = review_settings(delay_minutes=30)
    now = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
    args = {"zone": ZONE, "trigger_at": now, "now": now, "token": "t" * 22}
    planned = decide_plan(context, settings, BRANDING, ClientFacts(), **args)
    assert (planned.status, planned.channel, planned.planned_at) == ("planned", "sms", now + timedelta(minutes=30))
    cooled = decide_plan(context, settings, BRANDING, ClientFacts(recent=RecentRequest("j", None)), **args)
    assert (cooled.status, cooled.channel, cooled.planned_at) == ("skipped", None, None)
    dry = decide_plan(context, review_settings(dry_run=True), BRANDING, ClientFacts(), **args)
    assert dry.status == "skipped" and dry.reason == "dry run: would send by sms; nothing sent"
    assert dry.dry_run is not None and "John" in (dry.dry_run["sms"] or "")
