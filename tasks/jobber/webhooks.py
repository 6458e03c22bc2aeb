"""Jobber webhooks: signing and parsing. Pure functions, no I/O (the gateway verifies a signature with
`deployments.gateway.inbound.JobberVerifier`).

Jobber POSTs ``{"data":{"webHookEvent":{"topic","appId","accountId","itemId","occurredAt"}}}`` and signs
the RAW body: header ``X-Jobber-Hmac-SHA256`` = standard (padded) base64 of HMAC-SHA256 keyed with the
app's OAuth client secret. There is no timestamp in the signature, so replays are handled by dedupe on
``(accountId, topic, itemId, occurredAt)``. Apps created before 2023-12-08 receive the misspelled key
``occuredAt``: both are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

SIGNATURE_HEADER = "X-Jobber-Hmac-SHA256"

# Column sizes of the inbox (tasks/store/models.py WebhookInbox): longer values are malformed.
MAX_TOPIC_CHARS = 64
MAX_ID_CHARS = 200
MAX_OCCURRED_AT_CHARS = 64

_TOPIC = re.compile(r"[A-Za-z0-9_]{1,64}")
# Ids are opaque EncodedIds: accept any printable text without whitespace or control characters.
_OPAQUE = re.compile(r"[^\x00-\x20\x7f-\x9f\ud800-\udfff]+")


@dataclass(frozen=True, slots=True)
class JobberWebhook:
    """One webhook event: only ids, the object itself must be fetched by `item_id` afterwards."""

    topic: str
    app_id: str | None
    account_id: str
    item_id: str
    occurred_at: str

    @property
    def dedupe_key(self) -> str:
        return dedupe_key(self.account_id, self.topic, self.item_id, self.occurred_at)


def sign(body: bytes, secret: str) -> str:
    """The header value Jobber sends for `body`: base64(HMAC-SHA256(body, secret)), padded."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def dedupe_key(account_id: str, topic: str, item_id: str, occurred_at: str) -> str:
    """The identity of a delivery: sha256 hex of (accountId, topic, itemId, occurredAt)."""
    material = "\x1f".join((account_id, topic, item_id, occurred_at))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _field(event: dict[str, object], key: str, *, limit: int, pattern: re.Pattern[str] = _OPAQUE) -> str:
    value = event.get(key)
    if not isinstance(value, str):
        raise ValueError(f"webHookEvent.{key} must be a string")
    if not value or len(value) > limit or not pattern.fullmatch(value):
        raise ValueError(f"webHookEvent.{key} is empty, too long or has characters an id cannot have")
    return value


def parse_event(body: bytes | str) -> JobberWebhook:
    """Parse a webhook body. Raises ValueError with a short, secret-free reason when the shape is wrong."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("body is not UTF-8") from exc
    else:
        text = body
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError("body is not JSON") from exc
    data = document.get("data") if isinstance(document, dict) else None
    event = data.get("webHookEvent") if isinstance(data, dict) else None
    if not isinstance(event, dict):
        raise ValueError("body has no data.webHookEvent object")
    topic = _field(event, "topic", limit=MAX_TOPIC_CHARS, pattern=_TOPIC).upper()
    account_id = _field(event, "accountId", limit=MAX_ID_CHARS)
    item_id = _field(event, "itemId", limit=MAX_ID_CHARS)
    when_key = "occurredAt" if "occurredAt" in event else "occuredAt"
    if when_key not in event:
        raise ValueError("webHookEvent has no occurredAt (or occuredAt)")
    occurred_at = _field(event, when_key, limit=MAX_OCCURRED_AT_CHARS)
    app_id = event.get("appId")
    if app_id is not None and not isinstance(app_id, str):
        raise ValueError("webHookEvent.appId must be a string")
    return JobberWebhook(topic=topic, app_id=app_id, account_id=account_id, item_id=item_id, occurred_at=occurred_at)


__all__ = ["SIGNATURE_HEADER", "JobberWebhook", "dedupe_key", "parse_event", "sign"]
