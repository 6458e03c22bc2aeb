"""Posting to Slack: the `SlackSender` protocol, the slack-sdk implementation and a recording fake.

Slack's answers become the project's delivery errors (tasks/errors.py):
- `TransientDeliveryError`: HTTP 429 (with `retry_after`), HTTP 5xx, Slack's own `internal_error`-style
  codes, connection failures and timeouts. The row stays pending and is tried again later.
- `PermanentDeliveryError`: any other `ok: false` (channel_not_found, not_in_channel, invalid_auth,
  is_archived, invalid_blocks, ...). Retrying cannot help; the row is marked failed with the code.

A timeout after the request was sent may mean Slack posted it: we retry anyway, preferring a rare
duplicate message to a lost one (chat.postMessage has no idempotency key).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from tasks.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from tasks.retry import is_transient, parse_retry_after, slack_error_code, slack_status


class SlackSender(Protocol):
    """Posts one message to one channel and returns its timestamp (`ts`), or raises a DeliveryError."""

    def post_message(self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> str: ...


def delivery_error(exc: SlackApiError) -> DeliveryError:
    """Classify an answer the SDK refused (HTTP status and Slack's `error` code, by `tasks.retry.is_transient`)."""
    status, code = slack_status(exc), slack_error_code(exc)
    headers = {str(k).lower(): v for k, v in (getattr(exc.response, "headers", None) or {}).items()}
    if status == 429 or code in ("ratelimited", "rate_limited"):
        retry_after = parse_retry_after(headers.get("retry-after"))
        return TransientDeliveryError(
            f"Slack rate limited the post (retry after {retry_after}s)",
            code="ratelimited",
            provider="slack",
            retry_after=retry_after,
        )
    code = code or f"http_{status}"
    if is_transient(exc):
        return TransientDeliveryError(f"Slack is unavailable (HTTP {status}, {code})", code=code, provider="slack")
    return PermanentDeliveryError(f"Slack refused the post: {code}", code=code, provider="slack")


class WebClientSender:
    """`chat.postMessage` through slack-sdk's WebClient (build it with `tasks.slack.factory`)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post_message(self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        try:
            response = self.client.chat_postMessage(
                channel=channel, text=text, blocks=[dict(b) for b in blocks], unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            raise delivery_error(exc) from exc
        except (URLError, OSError, SlackClientError) as exc:
            # Connection refused/reset, DNS, timeouts: Slack (or the way to it) is down.
            raise TransientDeliveryError(
                f"Slack could not be reached: {type(exc).__name__}", code="connection_error", provider="slack"
            ) from exc
        return str(response.get("ts") or "")


@dataclass
class PostedMessage:
    channel: str
    text: str
    blocks: list[dict[str, Any]]


@dataclass
class RecordingSlackSender:
    """In memory: records every post; `errors` are raised in order (None = succeed) before posts succeed."""

    posted: list[PostedMessage] = field(default_factory=list)
    errors: list[DeliveryError | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def post_message(self, *, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> str:
        with self._lock:
            error = self.errors.pop(0) if self.errors else None
            if error is not None:
                raise error
            self.posted.append(PostedMessage(channel, text, [dict(b) for b in blocks]))
            return f"{len(self.posted)}.000000"
