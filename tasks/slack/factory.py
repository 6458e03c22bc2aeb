"""Builds the slack-sdk WebClient from settings. Lazy: nothing happens at import time.

`build_slack_sender` is what posts notifications: the real SDK when SLACK_BOT_TOKEN is set, otherwise the
local stand-in (`tasks.slack.local`), which writes each message to `<JOBBERFLOW_HOME>/outbox/slack/`.

`SLACK_BASE_URL` (or `base_url=`) points the real SDK at another endpoint: tests run a local HTTP server
that answers like Slack. The client retries a connection error once and an HTTP 429 after sleeping its
Retry-After, when that wait is short; a longer wait surfaces as a TransientDeliveryError so the dispatcher
can defer the row instead of blocking.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from tasks.retry import parse_retry_after
from tasks.settings import Settings, get_settings
from tasks.slack.local import LocalSlackSender, local_slack_root, slack_token
from tasks.slack.sender import SlackSender, WebClientSender

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://slack.com/api/"


class RetryAfterHandler(RetryHandler):
    """Retry HTTP 429 after the Retry-After it names, if that is at most `max_wait_s` (sleep injectable)."""

    def __init__(
        self,
        *,
        max_retry_count: int = 2,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter_s: float = 0.25,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._jitter_s = jitter_s

    @staticmethod
    def retry_after(response: HttpResponse | None) -> float | None:
        if response is None:
            return None
        for name, value in response.headers.items():
            if name.lower() == "retry-after":
                return parse_retry_after(value)
        return None

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = self.retry_after(response)
        return wait is None or wait <= self.max_wait_s

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = self.retry_after(response)
        wait = 1.0 if wait is None else wait
        log.info("Slack answered 429; waiting %.1fs (Retry-After) before posting again", wait)
        state.next_attempt_requested = True
        self._sleep(wait + random.uniform(0, self._jitter_s))  # noqa: S311 - jitter only
        state.increment_current_attempt()


def build_web_client(
    settings: Settings | None = None,
    *,
    base_url: str | None = None,
    token: str | None = None,
    timeout_s: int = 10,
    max_rate_limit_wait_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> WebClient:
    """A WebClient for SLACK_BOT_TOKEN at SLACK_BASE_URL (default https://slack.com/api/)."""
    settings = settings or get_settings()
    url = base_url or settings.slack_base_url or DEFAULT_BASE_URL
    return WebClient(
        token=token or settings.require("slack_bot_token"),
        base_url=url if url.endswith("/") else url + "/",
        timeout=timeout_s,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RetryAfterHandler(max_wait_s=max_rate_limit_wait_s, sleep=sleep),
        ],
    )


def build_slack_sender(
    settings: Settings | None = None,
    *,
    base_url: str | None = None,
    max_rate_limit_wait_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> SlackSender:
    """The sender notifications are posted with (`tasks.slack.sender.SlackSender`): the real one over
    `build_web_client` when SLACK_BOT_TOKEN is set, else the local stand-in writing to
    `<JOBBERFLOW_HOME>/outbox/slack/` (as SMS go to the local outbox without Twilio)."""
    settings = settings or get_settings()
    if slack_token(settings) is None:
        return LocalSlackSender(root=local_slack_root(settings))
    return WebClientSender(
        build_web_client(settings, base_url=base_url, max_rate_limit_wait_s=max_rate_limit_wait_s, sleep=sleep)
    )
