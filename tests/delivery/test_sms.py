"""TwilioSmsChannel through the official SDK, against a local stand-in for Twilio's Messages API."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tasks.delivery.base import OutgoingMessage, suppression_reason
from tasks.delivery.sms import BaseUrlHttpClient, TwilioSmsChannel
from tasks.errors import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError
from tests.delivery.fake_twilio import FakeTwilio, Scripted

SID = "AC" + "0" * 32
TOKEN = "test-auth-token-123"
FROM = "+15125550100"
CALLBACK = "https://reviews.example.com/twilio/status"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


def channel_for(fake: FakeTwilio, **overrides: object) -> TwilioSmsChannel:
    options: dict[str, object] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "from_number": FROM,
        "status_callback_url": CALLBACK,
        "base_url": fake.url,
        "timeout": 2.0,
    }
    options.update(overrides)
    return TwilioSmsChannel(**options)  # type: ignore[arg-type]


def sms(
    body: str = "Hi John! How was your Water Heater Installation with Mike?", key: str = "1:initial"
) -> OutgoingMessage:
    return OutgoingMessage(channel="sms", to="+15125550143", body=body, idempotency_key=key)


def test_send_returns_twilios_sid_and_sends_what_twilio_needs(twilio: FakeTwilio) -> None:
    result = channel_for(twilio).send(sms())

    assert result.provider == "twilio"
    assert result.provider_message_id == twilio.messages[0]["sid"]
    assert result.status == "queued"
    method, path, form = twilio.requests[0]
    assert (method, path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
    assert form["To"] == ["+15125550143"]
    assert form["From"] == [FROM]
    assert form["StatusCallback"] == [CALLBACK]
    assert form["Body"] == ["Hi John! How was your Water Heater Installation with Mike?"]
    # The idempotency key is ours: the customer never sees it.
    assert not any("1:initial" in value for values in form.values() for value in values)


def test_messaging_service_sid_is_used_instead_of_a_from_number(twilio: FakeTwilio) -> None:
    channel = channel_for(twilio, from_number=None, messaging_service_sid="MG" + "1" * 32)

    result = channel.send(sms())

    form = twilio.requests[0][2]
    assert form["MessagingServiceSid"] == ["MG" + "1" * 32]
    assert "From" not in form
    assert result.status == "accepted"


def test_21610_unsubscribed_recipient_is_permanent_and_asks_for_a_suppression(twilio: FakeTwilio) -> None:
    twilio.script.append(Scripted(status=400, code=21610, message="Attempt to send to unsubscribed recipient"))

    with pytest.raises(PermanentDeliveryError) as caught:
        channel_for(twilio).send(sms())

    assert caught.value.code == "21610"
    assert caught.value.provider == "twilio"
    assert suppression_reason(caught.value) == "twilio_21610"
    assert "5550143" not in str(caught.value)  # the full number stays out of messages and logs


@pytest.mark.parametrize("code", [21211, 21614, 21612, 21408])
def test_invalid_or_unreachable_numbers_are_permanent_without_suppression(twilio: FakeTwilio, code: int) -> None:
    twilio.script.append(Scripted(status=400, code=code, message="The 'To' number +15125550143 is not valid."))

    with pytest.raises(PermanentDeliveryError) as caught:
        channel_for(twilio).send(sms())

    assert caught.value.code == str(code)
    assert "+*********43 is not valid" in str(caught.value)
    assert suppression_reason(caught.value) is None


def test_429_is_transient_and_honours_retry_after(twilio: FakeTwilio) -> None:
    twilio.script.append(Scripted(status=429, code=20429, message="Too Many Requests", headers={"Retry-After": "7"}))

    with pytest.raises(TransientDeliveryError) as caught:
        channel_for(twilio).send(sms())

    assert caught.value.retry_after == 7.0
    assert caught.value.code == "20429"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_an_unknown_outcome_to_reconcile(twilio: FakeTwilio, status: int) -> None:
    since = datetime.now(UTC)
    twilio.script.append(Scripted(status=status, code=20500, message="Bad Gateway", accept=True))
    channel = channel_for(twilio)

    with pytest.raises(DeliveryOutcomeUnknown) as caught:
        channel.send(sms())

    assert caught.value.code == "20500"
    # Twilio did accept it behind the error: find_sent finds it.
    found = channel.find_sent(sms(), since=since)
    assert found is not None and found.provider_message_id == twilio.messages[0]["sid"]


def test_bad_credentials_are_permanent(twilio: FakeTwilio) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        channel_for(twilio, auth_token="wrong").send(sms())

    assert caught.value.code == "20003"


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = TwilioSmsChannel(
        account_sid=SID, auth_token=TOKEN, from_number=FROM, base_url=f"http://127.0.0.1:{port}", timeout=2
    )

    with pytest.raises(TransientDeliveryError):
        channel.send(sms())


def test_a_stall_after_sending_is_unknown_and_find_sent_then_finds_the_message(twilio: FakeTwilio) -> None:
    since = datetime.now(UTC)
    twilio.script.append(Scripted(stall_s=5))
    channel = channel_for(twilio, timeout=0.5)

    with pytest.raises(DeliveryOutcomeUnknown):
        channel.send(sms())

    # Twilio did accept it (still queued, so no DateSent yet): reconciliation must find it, not resend.
    found = channel.find_sent(sms(), since=since)
    assert found is not None
    assert found.provider_message_id == twilio.messages[0]["sid"]
    lists = [r for r in twilio.requests if r[0] == "GET"]
    assert lists[0][2]["To"] == ["+15125550143"]
    assert "DateSent>" in lists[0][2]


def test_find_sent_uses_date_sent_after_for_sent_messages(twilio: FakeTwilio) -> None:
    now = datetime.now(UTC)
    message = twilio.add_message(
        to="+15125550143", body=sms().body, status="delivered", date_sent=now, **{"from": FROM}
    )

    found = channel_for(twilio).find_sent(sms(), since=now - timedelta(seconds=30))

    assert found is not None and found.provider_message_id == message["sid"]
    assert found.status == "delivered"
    assert len([r for r in twilio.requests if r[0] == "GET"]) == 1


def test_find_sent_ignores_other_bodies_older_messages_and_other_senders(twilio: FakeTwilio) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    twilio.add_message(to="+15125550143", body="Something else", date_sent=now, **{"from": FROM})
    twilio.add_message(to="+15125550143", body=sms().body, date_created=old, date_sent=old, **{"from": FROM})
    twilio.add_message(to="+15125550143", body=sms().body, date_sent=now, **{"from": "+15125550199"})
    twilio.add_message(to="+15125550143", body=sms().body, direction="inbound", **{"from": FROM})

    assert channel_for(twilio).find_sent(sms(), since=now - timedelta(minutes=1)) is None


def test_full_numbers_stay_out_of_the_logs(twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the SDK logs requests with their query (To=...) at INFO
    caplog.set_level(logging.DEBUG, logger="tasks.delivery")
    channel = channel_for(twilio)
    channel.send(sms())
    channel.find_sent(sms(), since=datetime.now(UTC) - timedelta(minutes=1))

    assert "Messages.json" in caplog.text
    assert "5125550143" not in caplog.text
    assert TOKEN not in caplog.text


def test_base_url_rewrites_only_scheme_and_host() -> None:
    client = BaseUrlHttpClient(base_url="http://127.0.0.1:9999/prefix/")
    rewritten = client._rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=50")
    assert rewritten == "http://127.0.0.1:9999/prefix/2010-04-01/Accounts/AC1/Messages.json?PageSize=50"
    assert BaseUrlHttpClient()._rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"
