"""Slack request signing, version 0: how Slack signs a request (the gateway verifies it with
`deployments.gateway.inbound.SlackVerifier`: constant time, the timestamp within five minutes).

`X-Slack-Signature` = "v0=" + hex(HMAC-SHA256(signing secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")).
Several secrets may be given (comma-separated SLACK_SIGNING_SECRET) while one is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac

VERSION = "v0"


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signing_secrets(raw: str | None) -> list[str]:
    """SLACK_SIGNING_SECRET, split on commas (rotation); placeholders do not count."""
    from tasks.settings import is_placeholder

    if raw is None:
        return []
    return [part.strip() for part in raw.split(",") if not is_placeholder(part)]
