"""Send time: trigger + delay, out of quiet hours in the recipient's zone, right across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tasks.reviews.rules.timing import in_quiet_hours, plan_send_time

QUIET = {"quiet_start": time(21), "quiet_end": time(9)}


def plan(trigger: datetime, zone: str, delay: timedelta = timedelta(0)) -> datetime:
    return plan_send_time(trigger_at=trigger, delay=delay, now=trigger, zone=ZoneInfo(zone), **QUIET)


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def test_window_crossing_midnight() -> None:
    assert in_quiet_hours(time(22), time(21), time(9)) and in_quiet_hours(time(3), time(21), time(9))
    assert not in_quiet_hours(time(9), time(21), time(9)) and not in_quiet_hours(time(20, 59), time(21), time(9))


def test_daytime_trigger_plus_delay_is_kept() -> None:
    trigger = datetime(2026, 6, 1, 17, 0, tzinfo=UTC)  # 12:00 in Austin
    assert plan(trigger, "America/Chicago", timedelta(hours=2)) == trigger + timedelta(hours=2)


@pytest.mark.parametrize(
    "zone,expected",
    [
        ("America/New_York", "2026-06-02 09:00 EDT"),  # 22:00 local -> next morning
        ("America/Los_Angeles", "2026-06-01 19:00 PDT"),  # same instant is 19:00 on the west coast: fine
        ("Pacific/Honolulu", "2026-06-01 16:00 HST"),
        ("America/St_Johns", "2026-06-02 09:00 NDT"),  # 23:30 in Newfoundland (a half-hour zone)
    ],
)
def test_the_same_instant_is_judged_on_each_recipients_clock(zone: str, expected: str) -> None:
    trigger = datetime(2026, 6, 2, 2, 0, tzinfo=UTC)
    assert local(plan(trigger, zone), zone) == expected


def test_early_morning_waits_until_nine_the_same_day() -> None:
    trigger = datetime(2026, 6, 1, 11, 30, tzinfo=UTC)  # 06:30 in Austin
    assert local(plan(trigger, "America/Chicago"), "America/Chicago") == "2026-06-01 09:00 CDT"


def test_spring_forward_night_still_sends_at_nine_local() -> None:
    # 2026-03-08: US clocks jump 02:00 -> 03:00. A job closed at 22:00 CST the night before.
    trigger = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)
    sent = plan(trigger, "America/Chicago")
    assert local(sent, "America/Chicago") == "2026-03-08 09:00 CDT"
    assert sent - trigger == timedelta(hours=10)  # 11 wall-clock hours, 10 real ones


def test_fall_back_night_still_sends_at_nine_local() -> None:
    trigger = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # 22:00 CDT on Oct 31
    sent = plan(trigger, "America/Chicago")
    assert local(sent, "America/Chicago") == "2026-11-01 09:00 CST"
    assert sent - trigger == timedelta(hours=12)


def test_a_delay_that_lands_in_quiet_hours_moves_to_the_morning() -> None:
    trigger = datetime(2026, 6, 2, 0, 30, tzinfo=UTC)  # 19:30 in Austin, +2 h = 21:30
    assert local(plan(trigger, "America/Chicago", timedelta(hours=2)), "America/Chicago") == "2026-06-02 09:00 CDT"


def test_no_window_means_no_move_and_never_in_the_past() -> None:
    trigger = datetime(2026, 6, 2, 4, 0, tzinfo=UTC)
    now = trigger + timedelta(days=1)
    assert (
        plan_send_time(
            trigger_at=trigger,
            delay=timedelta(hours=2),
            now=now,
            zone=ZoneInfo("UTC"),
            quiet_start=None,
            quiet_end=None,
        )
        == now
    )
