"""The channel protocol and the recording channel flow tests use."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.delivery.base import Channel, OutgoingMessage, RecordingChannel, suppression_reason
from tasks.delivery.local import OutboxChannel
from tasks.delivery.sms import TwilioSmsChannel
from tasks.delivery.smtp import SmtpEmailChannel
from tasks.errors import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError


def message(key: str = "1:initial") -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to="+15125550143", body="Hi", idempotency_key=key)


def test_every_channel_follows_the_protocol(tmp_path: Path) -> None:
    channels: list[Channel] = [
        RecordingChannel(),
        OutboxChannel(root=tmp_path),
        SmtpEmailChannel(host="localhost", from_address="a@example.com"),
        TwilioSmsChannel(account_sid="AC" + "0" * 32, auth_token="t", from_number="+15125550100"),
    ]
    for channel in channels:
        assert isinstance(channel, Channel)
    assert [c.name for c in channels] == ["recording", "outbox", "smtp", "twilio"]


def test_recording_channel_records_attempts_and_fails_on_demand() -> None:
    channel = RecordingChannel()
    channel.fail_next(2, TransientDeliveryError("busy", retry_after=3))

    for _ in range(2):
        with pytest.raises(TransientDeliveryError):
            channel.send(message())
    result = channel.send(message())

    assert len(channel.attempts) == 3
    assert channel.sent == [message()]
    assert channel.find_sent(message(), since=datetime.now(UTC)) == result
    assert channel.find_sent(message("2:initial"), since=datetime.now(UTC)) is None


def test_recording_channel_can_lose_the_answer_of_an_accepted_message() -> None:
    channel = RecordingChannel()
    channel.fail_next(1, DeliveryOutcomeUnknown("read timeout"), accepted=True)

    with pytest.raises(DeliveryOutcomeUnknown):
        channel.send(message())

    assert channel.find_sent(message(), since=datetime.now(UTC)) is not None


def test_recording_channel_is_thread_safe() -> None:
    channel = RecordingChannel()
    threads = [threading.Thread(target=lambda i=i: channel.send(message(f"{i}:initial"))) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(channel.sent) == 50
    assert len({m.idempotency_key for m in channel.sent}) == 50


def test_only_twilio_21610_asks_for_a_suppression() -> None:
    assert suppression_reason(PermanentDeliveryError("x", code="21610", provider="twilio")) == "twilio_21610"
    assert suppression_reason(PermanentDeliveryError("x", code="21211", provider="twilio")) is None
    assert suppression_reason(PermanentDeliveryError("x", code="21610", provider="smtp")) is None
    assert suppression_reason(TransientDeliveryError("x")) is None
