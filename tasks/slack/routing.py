"""Which Slack channel each kind of notification goes to.

SLACK_CHANNELS is a JSON object from kind to channel (a name such as "#ops" or an id such as "C0123");
SLACK_DEFAULT_CHANNEL is used for every kind it does not name. A kind mapped to null or "" is switched off
even when there is a default. A kind with no channel is skipped, and the skip is recorded.

Without SLACK_BOT_TOKEN, notifications go to the local stand-in (tasks/slack/local.py); then, when neither
SLACK_CHANNELS nor SLACK_DEFAULT_CHANNEL is set, every kind goes to `LOCAL_DEFAULT_CHANNEL` ("#jobber"), so
the demo shows them instead of skipping them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from tasks.errors import ConfigurationError
from tasks.settings import Settings
from tasks.slack.kinds import NotificationKind
from tasks.slack.local import LOCAL_DEFAULT_CHANNEL, slack_token

_KINDS = {kind.value for kind in NotificationKind}


@dataclass(frozen=True)
class ChannelRoutes:
    """Kind -> channel; `None` (or a missing kind without a default) means "do not post"."""

    default: str | None = None
    by_kind: Mapping[str, str | None] = field(default_factory=dict)

    def channel_for(self, kind: str) -> str | None:
        if kind in self.by_kind:
            return self.by_kind[kind] or None
        return self.default or None


def parse_channel_routes(channels_json: str | None, default: str | None = None) -> ChannelRoutes:
    """Read SLACK_CHANNELS; a ConfigurationError names the variable when it is not a JSON object of
    known kinds to channel names."""
    default = (default or "").strip() or None
    if channels_json is None or not channels_json.strip():
        return ChannelRoutes(default=default)
    try:
        raw = json.loads(channels_json)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"SLACK_CHANNELS is not valid JSON: {exc.msg}", variable="SLACK_CHANNELS") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(
            'SLACK_CHANNELS must be a JSON object such as {"job_closed": "#ops"}', variable="SLACK_CHANNELS"
        )
    by_kind: dict[str, str | None] = {}
    for key, value in raw.items():
        kind = str(key).strip().lower()
        if kind not in _KINDS:
            raise ConfigurationError(
                f"SLACK_CHANNELS names an unknown kind {key!r}; known kinds: {', '.join(sorted(_KINDS))}",
                variable="SLACK_CHANNELS",
            )
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(
                f"SLACK_CHANNELS[{key!r}] must be a channel name or id (or null to switch it off)",
                variable="SLACK_CHANNELS",
            )
        by_kind[kind] = value.strip() if isinstance(value, str) and value.strip() else None
    return ChannelRoutes(default=default, by_kind=by_kind)


def _unset(value: str | None) -> bool:
    return value is None or not value.strip()


def routes_from_settings(settings: Settings) -> ChannelRoutes:
    """SLACK_CHANNELS and SLACK_DEFAULT_CHANNEL; without a token and without either, every kind goes to the
    local stand-in's `#jobber`."""
    if slack_token(settings) is None and _unset(settings.slack_channels) and _unset(settings.slack_default_channel):
        return ChannelRoutes(default=LOCAL_DEFAULT_CHANNEL)
    return parse_channel_routes(settings.slack_channels, settings.slack_default_channel)
