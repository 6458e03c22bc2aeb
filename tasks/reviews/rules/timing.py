"""When to send: trigger time + delay, moved out of quiet hours in the recipient's time zone.

All arithmetic is done on aware datetimes in UTC; the quiet window is evaluated on the recipient's wall
clock with zoneinfo, so a DST change (a 23- or 25-hour day, a skipped 02:30) moves the message to the
first allowed wall-clock minute, not to a fixed UTC offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tasks.reviews.settings import ReviewSettings


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Is the wall-clock time `local` inside [start, end)? A window may cross midnight (21:00-09:00)."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _wall_clock(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    """`day`'s date at wall-clock `at` in `zone`, as UTC. A time skipped by a DST jump (02:30 on the
    spring-forward night) is read with the offset before the jump, so it lands just after the jump."""
    return datetime.combine(day.date(), at).replace(tzinfo=zone).astimezone(UTC)


def next_allowed(moment: datetime, *, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`moment` itself when it is outside quiet hours in `zone`, else the end of that quiet window (UTC)."""
    moment = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not in_quiet_hours(wall, start, end):
        return moment
    if start < end or wall < end:
        # A same-day window, or the morning part of a window that crossed midnight: it ends today.
        return _wall_clock(local, end, zone)
    return _wall_clock(local + timedelta(days=1), end, zone)


def plan_send_time(
    *,
    trigger_at: datetime,
    delay: timedelta,
    now: datetime,
    zone: ZoneInfo,
    quiet_start: time | None,
    quiet_end: time | None,
) -> datetime:
    """trigger + delay (never in the past), then out of quiet hours when a window is given."""
    due = max(trigger_at.astimezone(UTC) + delay, now.astimezone(UTC))
    if quiet_start is None or quiet_end is None:
        return due
    return next_allowed(due, zone=zone, start=quiet_start, end=quiet_end)


def resolve_zone(*names: str | None) -> ZoneInfo:
    """The first usable IANA zone among `names`, else UTC."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (KeyError, ValueError):
            continue
    return ZoneInfo("UTC")


def send_time(
    settings: ReviewSettings,
    channels: tuple[str, ...],
    *,
    trigger_at: datetime,
    now: datetime,
    zone: ZoneInfo,
    follow_up: bool = False,
) -> datetime:
    """When a step may go out: the first message at trigger + delay, a follow-up from `now`; then out of
    quiet hours in the recipient's zone when an SMS goes (or any email too, with quiet_hours_for_email).
    Planning, the preview and the re-check just before the provider call all ask this one function."""
    quiet = settings.quiet_hours_enabled and ("sms" in channels or settings.quiet_hours_for_email)
    return plan_send_time(
        trigger_at=now if follow_up else trigger_at,
        delay=timedelta(0) if follow_up else timedelta(minutes=settings.delay_minutes),
        now=now,
        zone=zone,
        quiet_start=settings.quiet_hours_start if quiet else None,
        quiet_end=settings.quiet_hours_end if quiet else None,
    )


def outside_quiet_hours(moment: datetime, settings: ReviewSettings, zone: ZoneInfo) -> datetime:
    """`moment`, moved to the end of the quiet window when it falls inside one (a retry, a follow-up)."""
    if not settings.quiet_hours_enabled:
        return moment
    return next_allowed(moment, zone=zone, start=settings.quiet_hours_start, end=settings.quiet_hours_end)
