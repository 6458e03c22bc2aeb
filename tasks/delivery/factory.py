"""Where flows get their channels: Twilio and SMTP when configured, the local outbox otherwise.

Channels are built on first use and cached per configuration; nothing happens at import time.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from pydantic import SecretStr

from tasks.delivery.base import Channel
from tasks.delivery.local import OutboxChannel
from tasks.delivery.sms import TwilioSmsChannel
from tasks.delivery.smtp import SECURITY_MODES, SmtpEmailChannel
from tasks.errors import ConfigurationError
from tasks.settings import Settings, get_settings, secret_text

STATUS_CALLBACK_PATH = "/twilio/status"
INBOUND_PATH = "/twilio/inbound"

_cache: dict[tuple[str, ...], Channel] = {}
_lock = threading.Lock()


def _fingerprint(*values: object) -> str:
    """A cache key for a configuration that does not keep secrets in memory as text."""
    return hashlib.sha256(repr(values).encode("utf-8")).hexdigest()


def _cached(key: tuple[str, ...], build: Callable[[], Channel]) -> Channel:
    with _lock:
        channel = _cache.get(key)
        if channel is None:
            channel = _cache[key] = build()
        return channel


def outbox_root(settings: Settings) -> str:
    return str((settings.jobberflow_home / "outbox").resolve())


def get_sms_channel(settings: Settings | None = None) -> Channel:
    """The SMS channel: Twilio when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (or
    TWILIO_MESSAGING_SERVICE_SID) are set, else the local outbox.

    Raises ConfigurationError naming the missing variable when Twilio is only partly configured.
    """
    settings = settings or get_settings()
    sid = secret_text(settings.twilio_account_sid)
    token = secret_text(settings.twilio_auth_token)
    from_number = secret_text(settings.twilio_from_number)
    service = secret_text(settings.twilio_messaging_service_sid)
    if not (sid or token or from_number or service):
        root = outbox_root(settings)
        return _cached(("outbox", root), lambda: OutboxChannel(root=settings.jobberflow_home / "outbox"))
    missing = [
        variable
        for variable, present in (
            ("TWILIO_ACCOUNT_SID", sid),
            ("TWILIO_AUTH_TOKEN", token),
            ("TWILIO_FROM_NUMBER", from_number or service),
        )
        if not present
    ]
    if missing:
        variable = missing[0]
        hint = " (or TWILIO_MESSAGING_SERVICE_SID)" if variable == "TWILIO_FROM_NUMBER" else ""
        raise ConfigurationError(
            f"Twilio is partly configured: {variable}{hint} is not set. Set it, or unset the other TWILIO_* "
            "variables to write SMS to the local outbox.",
            variable=variable,
        )
    assert sid is not None and token is not None
    callback = settings.public_url.rstrip("/") + STATUS_CALLBACK_PATH
    base_url = secret_text(settings.twilio_base_url)
    key = ("twilio", _fingerprint(sid, token, from_number, service, callback, base_url))
    return _cached(
        key,
        lambda: TwilioSmsChannel(
            account_sid=sid,
            auth_token=SecretStr(token),
            from_number=from_number,
            messaging_service_sid=service,
            status_callback_url=callback,
            base_url=base_url,
        ),
    )


def get_email_channel(settings: Settings | None = None) -> Channel:
    """The email channel: SMTP when SMTP_HOST and SMTP_FROM are set, else the local outbox.

    Raises ConfigurationError naming the variable when SMTP is only partly configured (a host without a
    From address, a username without a password, an unknown SMTP_SECURITY).
    """
    settings = settings or get_settings()
    host = secret_text(settings.smtp_host)
    sender = secret_text(settings.smtp_from)
    if not host:
        root = outbox_root(settings)
        return _cached(("outbox", root), lambda: OutboxChannel(root=settings.jobberflow_home / "outbox"))
    if not sender:
        raise ConfigurationError("SMTP_HOST is set but SMTP_FROM is not: set the From address.", variable="SMTP_FROM")
    username = secret_text(settings.smtp_username)
    password = secret_text(settings.smtp_password)
    if username and not password:
        raise ConfigurationError("SMTP_USERNAME is set but SMTP_PASSWORD is not.", variable="SMTP_PASSWORD")
    security = settings.smtp_security.strip().lower()
    if security not in SECURITY_MODES:
        raise ConfigurationError(
            f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {settings.smtp_security!r}.",
            variable="SMTP_SECURITY",
        )
    key = (
        "smtp",
        _fingerprint(
            host,
            settings.smtp_port,
            security,
            username,
            password,
            sender,
            settings.business_name,
            settings.business_postal_address,
        ),
    )
    return _cached(
        key,
        lambda: SmtpEmailChannel(
            host=host,
            port=settings.smtp_port,
            security=security,
            username=username,
            password=SecretStr(password) if password else None,
            from_address=sender,
            business_name=settings.business_name,
            postal_address=settings.business_postal_address,
        ),
    )


def reset_channel_cache() -> None:
    """Forget the cached channels (tests, and after the settings change)."""
    with _lock:
        _cache.clear()
