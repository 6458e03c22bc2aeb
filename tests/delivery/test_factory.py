"""Channel factories: Twilio/SMTP when configured, the outbox otherwise, clear errors when half-configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.delivery.factory import get_email_channel, get_sms_channel, reset_channel_cache
from tasks.delivery.local import OutboxChannel
from tasks.delivery.sms import TwilioSmsChannel
from tasks.delivery.smtp import SmtpEmailChannel
from tasks.errors import ConfigurationError
from tasks.settings import Settings

SID = "AC" + "1" * 32


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    reset_channel_cache()
    yield
    reset_channel_cache()


def settings(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "jobberflow_home": tmp_path,
        "public_url": "https://reviews.example.com/",
        "twilio_account_sid": None,
        "twilio_auth_token": None,
        "twilio_from_number": None,
        "twilio_messaging_service_sid": None,
        "twilio_base_url": None,
        "smtp_host": None,
        "smtp_from": None,
        "smtp_username": None,
        "smtp_password": None,
    }
    base.update(values)
    return Settings(_env_file=None, **base)


def test_without_credentials_both_channels_write_to_the_outbox(tmp_path: Path) -> None:
    config = settings(tmp_path)
    sms, email = get_sms_channel(config), get_email_channel(config)
    assert isinstance(sms, OutboxChannel) and isinstance(email, OutboxChannel)
    assert sms.root == tmp_path / "outbox"
    assert sms is get_sms_channel(config)  # cached


def test_twilio_with_a_from_number(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        twilio_account_sid=SID,
        twilio_auth_token="tok-123",
        twilio_from_number="+15125550100",
        twilio_base_url="http://127.0.0.1:1",
    )
    channel = get_sms_channel(config)
    assert isinstance(channel, TwilioSmsChannel)
    assert channel.from_number == "+15125550100"
    assert channel.status_callback_url == "https://reviews.example.com/twilio/status"
    assert channel.http_client.base_url == "http://127.0.0.1:1"
    assert get_sms_channel(config) is channel


def test_twilio_with_a_messaging_service(tmp_path: Path) -> None:
    config = settings(
        tmp_path, twilio_account_sid=SID, twilio_auth_token="tok-123", twilio_messaging_service_sid="MG" + "2" * 32
    )
    channel = get_sms_channel(config)
    assert isinstance(channel, TwilioSmsChannel)
    assert channel.messaging_service_sid == "MG" + "2" * 32


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"twilio_account_sid": SID, "twilio_from_number": "+15125550100"}, "TWILIO_AUTH_TOKEN"),
        ({"twilio_auth_token": "tok-123", "twilio_from_number": "+15125550100"}, "TWILIO_ACCOUNT_SID"),
        ({"twilio_account_sid": SID, "twilio_auth_token": "tok-123"}, "TWILIO_FROM_NUMBER"),
        ({"twilio_account_sid": SID, "twilio_auth_token": "changeme", "twilio_from_number": "+1"}, "TWILIO_AUTH_TOKEN"),
    ],
)
def test_partial_twilio_configuration_names_the_missing_variable(
    tmp_path: Path, values: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        get_sms_channel(settings(tmp_path, **values))
    assert caught.value.variable == missing
    assert missing in str(caught.value)
    assert "tok-123" not in str(caught.value)


def test_smtp_when_host_and_from_are_set(tmp_path: Path) -> None:
    config = settings(
        tmp_path,
        smtp_host="smtp.example.com",
        smtp_port=465,
        smtp_security="SSL",
        smtp_from="Mike <reviews@example.com>",
        smtp_username="u",
        smtp_password="p-123",
        business_postal_address="12 Main St",
    )
    channel = get_email_channel(config)
    assert isinstance(channel, SmtpEmailChannel)
    assert (channel.host, channel.port, channel.security) == ("smtp.example.com", 465, "ssl")
    assert channel.postal_address == "12 Main St"


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"smtp_host": "smtp.example.com"}, "SMTP_FROM"),
        ({"smtp_host": "smtp.example.com", "smtp_from": "a@example.com", "smtp_username": "u"}, "SMTP_PASSWORD"),
        ({"smtp_host": "smtp.example.com", "smtp_from": "a@example.com", "smtp_security": "tls1.3"}, "SMTP_SECURITY"),
    ],
)
def test_partial_smtp_configuration_names_the_variable(tmp_path: Path, values: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        get_email_channel(settings(tmp_path, **values))
    assert caught.value.variable == missing


def test_importing_the_channels_builds_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import tasks.delivery.factory, tasks.delivery.sms, tasks.delivery.smtp, tasks.store.optouts, tasks.settings;"
        "import deployments.gateway.twilio;"
        "assert tasks.settings.get_settings.cache_info().currsize == 0;"
        "assert tasks.delivery.factory._cache == {}"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2], timeout=60)
