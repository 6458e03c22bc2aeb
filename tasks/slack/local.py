"""The local Slack stand-in: without SLACK_BOT_TOKEN, notifications are written to files instead of posted.

As SMS and email go to the local outbox (tasks/delivery/local.py) when Twilio and SMTP are not configured,
Slack messages go to `<JOBBERFLOW_HOME>/outbox/slack/`: one JSON file per message (`channel`, `text`,
`blocks`, `ts`, `written_at`) and one line appended to `slack.log` (tail it to watch the demo).
`LocalSlackSender` has the real sender's interface (`tasks.slack.sender.SlackSender`), so the outbox table,
the dispatcher, its pacing and its artifacts work exactly as with Slack; nothing leaves the machine.

Without a token, and when neither SLACK_CHANNELS nor SLACK_DEFAULT_CHANNEL is set, every kind goes to
`LOCAL_DEFAULT_CHANNEL` (see `tasks.slack.routing.routes_from_settings`), so a newcomer sees every
notification. With a token, nothing here is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.settings import Settings, is_placeholder

logger = logging.getLogger(__name__)

LOG_NAME = "slack.log"
LOCAL_DEFAULT_CHANNEL = "#jobber"
_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")


def slack_token(settings: Settings) -> str | None:
    """SLACK_BOT_TOKEN, or None when it is unset or a placeholder (then the local stand-in is used)."""
    if settings.slack_bot_token is None:
        return None
    token = settings.slack_bot_token.get_secret_value().strip()
    return None if is_placeholder(token) else token


def local_slack_root(settings: Settings) -> Path:
    """Where the local stand-in writes: `<JOBBERFLOW_HOME>/outbox/slack`."""
    return (settings.jobberflow_home / "outbox" / "slack").resolve()


def plain_text(mrkdwn_text: str) -> str:
    """Slack mrkdwn made readable in a terminal: `<url|label>` -> label, entities unescaped."""
    text = _LINK.sub(lambda m: m.group(2), mrkdwn_text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class LocalSlackSender:
    """Writes each message to `<root>/<time>-<id>.json` instead of posting it (the SlackSender interface)."""

    def __init__(self, *, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def post_message(self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        now = time.time()
        ts = f"{now:.6f}"
        record: dict[str, Any] = {
            "ts": ts,
            "channel": channel,
            "text": text,
            "blocks": [dict(b) for b in blocks],
            "written_at": datetime.fromtimestamp(now, UTC).isoformat(),
        }
        name = f"{int(now * 1_000_000):020d}-{uuid.uuid4().hex[:12]}.json"
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, ensure_ascii=False, indent=2)
            os.replace(tmp_name, self.root / name)  # readers never see a half-written file
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        line = {"written_at": record["written_at"], "channel": channel, "text": text, "file": name}
        with self._lock, (self.root / LOG_NAME).open("a", encoding="utf-8") as log:
            log.write(json.dumps(line, ensure_ascii=False) + "\n")
        logger.info("Slack (local stand-in): message to %s written to %s", channel, name)
        return ts

    def messages(self) -> list[dict[str, Any]]:
        """Every message written so far, oldest first (the demo and tests read them)."""
        if not self.root.exists():
            return []
        found: list[dict[str, Any]] = []
        for path in sorted(self.root.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(record, dict):
                record["file"] = path.name
                found.append(record)
        return found
