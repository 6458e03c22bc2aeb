"""SMS through Twilio, with the official SDK (`twilio.rest.Client`).

The SDK's own HTTP client does the requests; `BaseUrlHttpClient` only swaps the scheme and host of each
URL for `base_url` (TWILIO_BASE_URL), so tests run the SDK's real request and parsing code against a
local endpoint.

How outcomes are classified:

| what happened                                   | raised                                   |
|-------------------------------------------------|------------------------------------------|
| 21610: the recipient texted STOP to our number  | PermanentDeliveryError(code="21610"): suppress the number |
| 21211, 21614, 21612, ... any other 4xx          | PermanentDeliveryError(code=<Twilio code>) |
| HTTP 429, code 20429, 408 (`is_transient`)      | TransientDeliveryError(retry_after=Retry-After) |
| HTTP 5xx (500, 502, 503, 504: maybe accepted)    | DeliveryOutcomeUnknown: call find_sent() before any resend |
| connection refused, DNS, connect timeout, TLS   | TransientDeliveryError (nothing was sent) |
| read timeout or connection lost after sending   | DeliveryOutcomeUnknown: call find_sent() before any resend |
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from pydantic import SecretStr
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from tasks.delivery.base import OutgoingMessage, SendResult
from tasks.errors import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError
from tasks.phone import mask_phone
from tasks.retry import is_transient, parse_retry_after

logger = logging.getLogger(__name__)

PROVIDER = "twilio"
UNSUBSCRIBED_RECIPIENT = "21610"
# How far before `since` a message may be dated and still match: provider and worker clocks differ.
CLOCK_SKEW = timedelta(minutes=2)
_LIST_LIMIT = 50


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the SDK ships no type information
    """The SDK's `TwilioHttpClient`, sending every request to `base_url` instead of *.twilio.com.

    It also remembers (per thread) the Retry-After of the last 429/503 answer, which the SDK's exception
    does not carry.
    """

    def __init__(self, *, base_url: str | None = None, timeout: float = 15.0) -> None:
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._last = threading.local()

    def _rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        base = urlsplit(self.base_url)
        target = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, base.path + target.path, target.query, target.fragment))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self._last.retry_after = None
        response: Response = super().request(
            method,
            self._rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        if response.status_code in (429, 503) and response.headers is not None:
            self._last.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return response

    # The SDK logs query parameters (To=<full number>) at INFO; log only the method and path, at DEBUG.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        logger.debug("Twilio API %s %s", kwargs.get("method"), urlsplit(str(kwargs.get("url"))).path)

    def log_response(self, status_code: int, response: Any) -> None:
        logger.debug("Twilio API answered %s", status_code)

    @property
    def last_retry_after(self) -> float | None:
        """Retry-After of this thread's last request, when it was a 429 or 503."""
        value: float | None = getattr(self._last, "retry_after", None)
        return value


def _sent_before_failure(exc: requests.RequestException) -> bool:
    """False when the request certainly never left this machine (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return not isinstance(reason, NewConnectionError | NameResolutionError | ConnectTimeoutError)
    return True


class TwilioSmsChannel:
    """Sends SMS with Twilio's Messages API, from a number or through a Messaging Service."""

    name = PROVIDER

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: SecretStr | str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback_url: str | None = None,
        base_url: str | None = None,
        timeout: float = 15.0,
        http_client: TwilioHttpClient | None = None,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("TwilioSmsChannel needs from_number or messaging_service_sid")
        token = auth_token.get_secret_value() if isinstance(auth_token, SecretStr) else auth_token
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_url = status_callback_url
        self.http_client = http_client or BaseUrlHttpClient(base_url=base_url, timeout=timeout)
        self._client = Client(account_sid, token, http_client=self.http_client)

    def send(self, message: OutgoingMessage) -> SendResult:
        """Create the message; returns Twilio's SID and status ("queued", or "accepted" with a Messaging Service)."""
        if message.channel != "sms":
            raise PermanentDeliveryError(f"{self.name} only sends SMS, not {message.channel}", provider=self.name)
        params: dict[str, Any] = {"to": message.to, "body": message.body}
        if message.from_address:
            params["from_"] = message.from_address
        elif self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        if self.status_callback_url:
            params["status_callback"] = self.status_callback_url
        try:
            created = self._client.messages.create(**params)
        except TwilioException as exc:
            raise self._classify_api_error(exc, message) from exc
        except requests.RequestException as exc:
            if _sent_before_failure(exc):
                raise DeliveryOutcomeUnknown(
                    f"Twilio may have accepted the SMS to {mask_phone(message.to)}: {type(exc).__name__}",
                    provider=self.name,
                ) from exc
            raise TransientDeliveryError(
                f"Twilio could not be reached: {type(exc).__name__}", provider=self.name
            ) from exc
        logger.info("Twilio accepted an SMS to %s as %s", mask_phone(message.to), created.sid)
        return SendResult(provider=self.name, provider_message_id=created.sid, status=str(created.status or "queued"))

    def _classify_api_error(self, exc: TwilioException, message: OutgoingMessage) -> Exception:
        status = int(getattr(exc, "status", 0) or 0)
        code = getattr(exc, "code", None)
        code_text = str(code) if code is not None else None
        detail = str(getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None) or "")
        detail = detail.replace(message.to, mask_phone(message.to))  # Twilio quotes the number in its messages
        text = f"Twilio refused the SMS to {mask_phone(message.to)} (HTTP {status}, code {code_text}): {detail}"
        if status >= 500:
            # A 5xx (Twilio's edge timing out, a gateway error) can hide a message Twilio accepted: the
            # outcome is unknown, and the caller reconciles with find_sent() before any resend.
            return DeliveryOutcomeUnknown(text, code=code_text, provider=self.name)
        if not status or is_transient(exc):  # 429, 20429, 408: Twilio asks us to wait
            return TransientDeliveryError(
                text, code=code_text, provider=self.name, retry_after=self.http_client.last_retry_after
            )
        return PermanentDeliveryError(text, code=code_text, provider=self.name)

    def find_sent(self, message: OutgoingMessage, *, since: datetime) -> SendResult | None:
        """The message Twilio holds for the same recipient and body, created at or after `since`.

        First asks the Messages list API for messages to that number with DateSent after `since`; a
        message still queued has no DateSent yet, so when that finds nothing the newest messages to the
        number are read and matched on their creation date. The idempotency key is never sent to
        Twilio (the customer would see it), so the match is on recipient, body, sender and time.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        earliest = since - CLOCK_SKEW
        try:
            for query in (
                {"to": message.to, "date_sent_after": earliest, "limit": _LIST_LIMIT},
                {"to": message.to, "limit": _LIST_LIMIT},
            ):
                matches = [m for m in self._client.messages.list(**query) if self._matches(m, message, earliest)]
                if matches:
                    first = min(matches, key=lambda m: m.date_created or since)
                    return SendResult(
                        provider=self.name, provider_message_id=first.sid, status=str(first.status or "queued")
                    )
        except TwilioException as exc:
            raise TransientDeliveryError(
                f"Twilio's message list failed: {type(exc).__name__}", provider=self.name
            ) from exc
        except requests.RequestException as exc:
            raise TransientDeliveryError(
                f"Twilio could not be reached: {type(exc).__name__}", provider=self.name
            ) from exc
        return None

    def _matches(self, candidate: Any, message: OutgoingMessage, earliest: datetime) -> bool:
        if (candidate.body or "").strip() != message.body.strip():
            return False
        if str(candidate.direction or "outbound-api").startswith("inbound"):
            return False
        sender = message.from_address or (None if self.messaging_service_sid else self.from_number)
        if sender and candidate.from_ and candidate.from_ != sender:
            return False
        if message.from_address is None and self.messaging_service_sid and candidate.messaging_service_sid:
            if candidate.messaging_service_sid != self.messaging_service_sid:
                return False
        created = candidate.date_created or candidate.date_sent
        return created is None or created >= earliest

    def close(self) -> None:
        session = getattr(self.http_client, "session", None)
        if session is not None:
            session.close()
