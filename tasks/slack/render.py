"""Render notifications: `templates/slack/<kind>.json.j2` -> Block Kit. Pure: no I/O beyond reading templates.

Templates run in Jinja's sandbox with StrictUndefined (a typo fails loudly in tests, not in a channel) and
produce a JSON object `{"text": ..., "blocks": [...]}`; `text` is the notification/fallback text. Filters:
`mrkdwn` (escape &, <, >), `link(label)`, `slack_date`, `money`, `humanize`, `clip(n)`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from tasks.errors import RenderError
from tasks.slack import mrkdwn

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "slack"
MAX_BLOCKS = 50
MAX_TEXT = 3000


@dataclass(frozen=True)
class SlackMessage:
    """What gets posted: fallback/notification text and Block Kit blocks."""

    text: str
    blocks: tuple[dict[str, Any], ...]

    def as_payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": [dict(b) for b in self.blocks]}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SlackMessage:
        blocks = payload.get("blocks") or []
        return cls(text=str(payload.get("text") or ""), blocks=tuple(dict(b) for b in blocks if isinstance(b, dict)))


def _clip(value: object, limit: int) -> str:
    return mrkdwn.truncate("" if value is None else str(value), limit)


@cache
def _environment(directory: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 - the output is JSON built with `tojson`; text is escaped by `mrkdwn`
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        mrkdwn=mrkdwn.escape,
        link=mrkdwn.link,
        slack_date=mrkdwn.slack_date,
        money=mrkdwn.money,
        humanize=mrkdwn.humanize,
        clip=_clip,
    )
    return env


def _is_empty(block: Mapping[str, Any]) -> bool:
    if block.get("type") == "section":
        text = (block.get("text") or {}).get("text") if isinstance(block.get("text"), dict) else None
        return not text and not block.get("fields")
    if block.get("type") == "context":
        return not block.get("elements")
    return False


def render_message(kind: str, context: Mapping[str, Any], *, templates_dir: Path | None = None) -> SlackMessage:
    """Render the `kind` template with `context` (keyed as the template expects, e.g. {"job": {...}})."""
    env = _environment(templates_dir or TEMPLATES_DIR)
    source = env.get_template(f"{kind}.json.j2").render(**context)
    try:
        payload = json.loads(source)
    except json.JSONDecodeError as exc:
        raise RenderError(f"templates/slack/{kind}.json.j2 did not render valid JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("blocks"), list):
        raise RenderError(f"templates/slack/{kind}.json.j2 must render an object with a `blocks` list")
    blocks = tuple(b for b in payload["blocks"] if isinstance(b, dict) and not _is_empty(b))
    if not blocks or len(blocks) > MAX_BLOCKS:
        raise RenderError(f"templates/slack/{kind}.json.j2 rendered {len(blocks)} blocks (1-{MAX_BLOCKS} allowed)")
    text = mrkdwn.truncate(str(payload.get("text") or ""), MAX_TEXT)
    return SlackMessage(text=text, blocks=blocks)
