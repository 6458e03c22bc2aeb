"""What every outbound channel takes and returns, and an in-memory channel for flow tests.

A channel hands one message to one provider and says what happened, with the errors of tasks.errors:

- `PermanentDeliveryError`: retrying cannot help (invalid number, unsubscribed recipient, refused address).
  `code` carries the provider's code; `suppression_reason()` says whether the address must be suppressed.
- `TransientDeliveryError`: the provider was not reached or asked us to wait; `retry_after` when it said how long.
- `DeliveryOutcomeUnknown`: the request may have been accepted (a timeout after it was sent). Call
  `find_sent()` (or wait for the status callback) before any resend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from tasks.errors import DeliveryError

ChannelKind = Literal["sms", "email"]

# Provider error codes that mean "this recipient told the provider to stop": the caller suppresses the address.
_SUPPRESSING_CODES = {("twilio", "21610"): "twilio_21610"}


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message, ready to send.

    `idempotency_key` identifies the message across retries ("<review_request_id>:<kind>"); it never
    appears in anything the recipient sees.
    """

    channel: ChannelKind
    to: str
    body: str
    idempotency_key: str
    subject: str | None = None
    html: str | None = None
    unsubscribe_url: str | None = None
    from_address: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the provider answered: its name, its id for the message (when it has one) and the status."""

    provider: str
    provider_message_id: str | None
    status: str


@runtime_checkable
class Channel(Protocol):
    """An outbound channel: SMS (Twilio), email (SMTP), the local outbox, or a recording fake."""

    name: str

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand the message to the provider; raises PermanentDeliveryError, TransientDeliveryError or
        DeliveryOutcomeUnknown."""
        ...

    def find_sent(self, message: OutgoingMessage, *, since: datetime) -> SendResult | None:
        """Did the provider accept this message at or after `since`? None when it did not (or cannot say)."""
        ...


def suppression_reason(error: DeliveryError) -> str | None:
    """The suppression reason to record for this error, or None when the address stays usable.

    Twilio 21610 ("attempt to send to unsubscribed recipient") means the customer texted STOP to our
    number: the caller must add an sms suppression so nothing is attempted again.
    """
    if error.code is None:
        return None
    return _SUPPRESSING_CODES.get((error.provider or "", error.code))


class RecordingChannel:
    """An in-memory channel for flow tests: records every attempt, and can fail the next N sends.

    `attempts` holds every message passed to `send()`, `sent` only those that succeeded (so a test can
    assert a message went out exactly once). Thread-safe.
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._attempts: list[OutgoingMessage] = []
        self._sent: list[tuple[OutgoingMessage, SendResult]] = []
        self._failures: list[tuple[BaseException, bool]] = []

    def fail_next(self, count: int, error: BaseException, *, accepted: bool = False) -> None:
        """Make the next `count` sends raise `error` (after recording the attempt).

        With `accepted=True` the message still counts as sent, as when a provider accepts a message but
        the answer is lost (raise DeliveryOutcomeUnknown with it to exercise reconciliation).
        """
        with self._lock:
            self._failures.extend([(error, accepted)] * count)

    def send(self, message: OutgoingMessage) -> SendResult:
        with self._lock:
            self._attempts.append(message)
            error, accepted = self._failures.pop(0) if self._failures else (None, True)
            result = SendResult(
                provider=self.name, provider_message_id=f"{self.name}-{len(self._sent) + 1}", status="sent"
            )
            if accepted:
                self._sent.append((message, result))
            if error is not None:
                raise error
            return result

    def find_sent(self, message: OutgoingMessage, *, since: datetime) -> SendResult | None:
        with self._lock:
            for sent, result in self._sent:
                if sent.idempotency_key == message.idempotency_key:
                    return result
        return None

    @property
    def attempts(self) -> list[OutgoingMessage]:
        with self._lock:
            return list(self._attempts)

    @property
    def sent(self) -> list[OutgoingMessage]:
        with self._lock:
            return [message for message, _ in self._sent]

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._sent.clear()
            self._failures.clear()
