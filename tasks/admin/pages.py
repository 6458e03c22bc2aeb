"""Rendering of the admin page and the small OAuth / error pages from templates/admin/ (autoescaped Jinja).

Pure: data in, HTML out. The gateway (deployments/gateway/admin.py, oauth.py) does the HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from tasks.admin.chart import SERIES, weekly_chart_svg
from tasks.admin.dashboard import Dashboard

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "admin"


def format_time(value: datetime | None) -> str:
    """`2025-03-03 14:05 UTC`, or an em dash for nothing."""
    if value is None:
        return "—"
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float | None) -> str:
    """A short human duration: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_ago(value: datetime | None, now: datetime) -> str:
    """`12 min ago` relative to `now`, or an em dash."""
    if value is None:
        return "—"
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return format_duration((now - value).total_seconds()) + " ago"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.filters["duration"] = format_duration
    env.filters["ago"] = format_ago
    return env


def render_dashboard(
    dashboard: Dashboard,
    *,
    connect_url: str = "/auth/jobber/connect",
    json_url: str = "/admin/jobber.json",
    stale_after_s: float = 3600,
) -> str:
    """The admin page. The chart is built here, already escaped, and inserted as markup."""
    chart = Markup(weekly_chart_svg(dashboard.weeks))  # noqa: S704 - weekly_chart_svg escapes every text it writes
    template = environment().get_template("jobber.html")
    return template.render(
        d=dashboard,
        now=dashboard.generated_at,
        chart=chart,
        series=SERIES,
        connect_url=connect_url,
        json_url=json_url,
        stale_after=format_duration(stale_after_s),
    )


def render_message(
    *,
    title: str,
    message: str,
    detail: str | None = None,
    link_url: str | None = None,
    link_text: str | None = None,
    tone: str = "info",
) -> str:
    """A small standalone page: a heading, a sentence or two, an optional action link. `tone`: ok | info | error."""
    template = environment().get_template("message.html")
    return template.render(
        title=title, message=message, detail=detail, link_url=link_url, link_text=link_text, tone=tone
    )
