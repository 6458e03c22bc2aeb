"""Slack's mrkdwn: escaping user text, links, dates and money, for templates and Block Kit builders alike.

Slack gives `&`, `<` and `>` control meaning in mrkdwn (`<@U123>`, `<!channel>`, `<https://x|label>`), so
every piece of text that came from a user or from Jobber is escaped before it is put into a message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tasks.jobber.models import parse_time

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(value: object) -> str:
    """`value` as text that Slack shows literally (no mentions, links or entities injected)."""
    return ("" if value is None else str(value)).translate(_ESCAPES)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def safe_url(value: object) -> str | None:
    """An https URL that is safe inside `<url|label>` (no spaces, `|` or angle brackets), else None."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c in value for c in " |<>\n\r\t"):
        return None
    return value


def link(url: object, label: object) -> str:
    """`<url|label>` with the label escaped; just the escaped label when the URL is not a safe https URL."""
    text = escape(label).replace("|", "¦")
    safe = safe_url(url)
    return f"<{safe}|{text}>" if safe else text


def slack_date(value: Any, fmt: str = "{date_short_pretty}") -> str:
    """Slack's `<!date^…>`: each reader sees the date in their own time zone; the fallback is the UTC date."""
    when = parse_time(value)
    if when is None:
        return ""
    fallback = f"{when:%b} {when.day}, {when.year}"
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


def money(value: Any, symbol: str = "$") -> str:
    """1850 -> "$1,850.00"; "" when there is no amount."""
    if value is None or value == "":
        return ""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


def humanize(value: object) -> str:
    """An enum value as people read it: "awaiting_payment" -> "awaiting payment"."""
    return "" if value is None else str(value).replace("_", " ")
