"""Slack request signing, version 0: verify that a request really comes from Slack.

`X-Slack-Signature` = "v0=" + hex(HMAC-SHA256(signing secret, "v0:{X-Slack-Request-Timestamp}:{raw body}")).
The timestamp must be within five minutes of now in either direction (a replayed old request and one from
a clock far ahead are both refused); the comparison is constant-time; several secrets may be given
(comma-separated SLACK_SIGNING_SECRET) while one is being rotated. The clock is injected.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = "v0"
TOLERANCE_S = 300


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    reason: str = ""  # why not, for the log (never contains a secret)


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack_signature(
    *,
    secrets: Sequence[str],
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> SignatureCheck:
    """Check the two headers against the raw body. Only parse the body once this says it is valid."""
    if not secrets:
        return SignatureCheck(False, "SLACK_SIGNING_SECRET is not set")
    if not timestamp or not signature:
        return SignatureCheck(False, "missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return SignatureCheck(False, "malformed timestamp")
    skew = now - int(timestamp)
    if abs(skew) > tolerance_s:
        return SignatureCheck(False, f"timestamp {'too old' if skew > 0 else 'in the future'} ({int(skew)}s)")
    if not signature.startswith(f"{VERSION}="):
        return SignatureCheck(False, "unsupported signature version")
    given = signature.encode()
    matched = False
    for secret in secrets:  # no early exit: the time taken does not depend on which secret matched
        matched |= hmac.compare_digest(compute_signature(secret, timestamp, body).encode(), given)
    return SignatureCheck(True) if matched else SignatureCheck(False, "signature mismatch")


def signing_secrets(raw: str | None) -> list[str]:
    """SLACK_SIGNING_SECRET, split on commas (rotation); placeholders do not count."""
    from tasks.settings import is_placeholder

    if raw is None:
        return []
    return [part.strip() for part in raw.split(",") if not is_placeholder(part)]
