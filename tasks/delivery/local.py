"""The local outbox: messages written to files instead of sent, for the demo and dry runs.

Each message becomes `<JOBBERFLOW_HOME>/outbox/<channel>-<hash of the idempotency key>.json`, and one
line is appended to `outbox.log` (tail it to watch the demo). Sending the same key twice writes once:
the file is published with an atomic link, so concurrent workers cannot both write it.

The module is `local` like Slack's stand-in (`tasks/slack/local.py`); `tasks/slack/outbox.py` is a
different thing, the database queue of Slack notifications.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.delivery.base import OutgoingMessage, SendResult
from tasks.phone import mask_phone, sms_segments

logger = logging.getLogger(__name__)

PROVIDER = "outbox"
LOG_NAME = "outbox.log"


def _digest(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]


class OutboxChannel:
    """Writes messages to a folder instead of sending them. `find_sent` reads them back."""

    name = PROVIDER

    def __init__(self, *, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def path_for(self, message: OutgoingMessage) -> Path:
        """The file the message is (or would be) written to."""
        return self.root / f"{message.channel}-{_digest(message.idempotency_key)}.json"

    def _result(self, record: dict[str, Any]) -> SendResult:
        return SendResult(provider=self.name, provider_message_id=str(record["id"]), status="sent")

    def send(self, message: OutgoingMessage) -> SendResult:
        """Write the message once per idempotency key; a repeat returns the first write's result."""
        path = self.path_for(message)
        if path.exists():
            return self._result(self._read(path))
        self.root.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = asdict(message)
        record["id"] = f"outbox-{_digest(message.idempotency_key)[:16]}"
        record["written_at"] = datetime.now(UTC).isoformat()
        if message.channel == "sms":
            segments, encoding = sms_segments(message.body)
            record["segments"], record["encoding"] = segments, encoding
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, ensure_ascii=False, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp_name, path)  # fails when another writer published the same key first
            except FileExistsError:
                return self._result(self._read(path))
        finally:
            os.unlink(tmp_name)
        self._append_log(message, record)
        logger.info("Outbox: %s to %s written to %s", message.channel, self._masked(message), path.name)
        return self._result(record)

    def _append_log(self, message: OutgoingMessage, record: dict[str, Any]) -> None:
        line = {
            "written_at": record["written_at"],
            "id": record["id"],
            "channel": message.channel,
            "to": message.to,
            "subject": message.subject,
            "body": message.body,
            "file": self.path_for(message).name,
        }
        with self._lock, (self.root / LOG_NAME).open("a", encoding="utf-8") as log:
            log.write(json.dumps(line, ensure_ascii=False) + "\n")

    @staticmethod
    def _masked(message: OutgoingMessage) -> str:
        return mask_phone(message.to) if message.channel == "sms" else "<email>"

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def find_sent(self, message: OutgoingMessage, *, since: datetime) -> SendResult | None:
        """The outbox's record of this idempotency key, whenever it was written (the key is the identity)."""
        path = self.path_for(message)
        if not path.exists():
            return None
        return self._result(self._read(path))

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the outbox, oldest first (the demo and tests read them)."""
        if not self.root.exists():
            return []
        records = [self._read(p) for p in self.root.glob("*.json") if not p.name.startswith(".")]
        return sorted(records, key=lambda r: str(r.get("written_at", "")))
