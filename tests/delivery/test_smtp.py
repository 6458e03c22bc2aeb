"""SmtpEmailChannel against a real local SMTP server (aiosmtpd): plain, STARTTLS with login, implicit TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.delivery.base import OutgoingMessage
from tasks.delivery.smtp import SmtpEmailChannel, message_id_for
from tasks.errors import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError
from tests.delivery.smtp_server import Handler, SmtpServer, free_port, make_self_signed_cert

FROM = "Mike's Plumbing <reviews@mikesplumbing.example>"
UNSUBSCRIBE = "https://reviews.example.com/u/tok123"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def plain_server(handler: Handler) -> Iterator[SmtpServer]:
    with SmtpServer(handler) as server:
        yield server


def email(key: str = "42:initial", body: str | None = None, html: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        channel="email",
        to="John Smith <john@example.com>",
        subject="How did we do, John?",
        body=body or "Hi John! How was your Water Heater Installation with Mike?\nhttps://g.page/r/review",
        html=html or "<html><body><p>Hi John! How was your <b>Water Heater Installation</b>?</p></body></html>",
        idempotency_key=key,
        unsubscribe_url=UNSUBSCRIBE,
    )


def channel(port: int, **overrides: object) -> SmtpEmailChannel:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": FROM,
        "timeout": 5.0,
        "business_name": "Mike's Plumbing",
        "postal_address": "12 Main St, Austin, TX 78701",
    }
    options.update(overrides)
    return SmtpEmailChannel(**options)  # type: ignore[arg-type]


def parts(message: object) -> dict[str, str]:
    found = {}
    for part in message.walk():  # type: ignore[attr-defined]
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = part.get_content()
    return found


def test_plain_smtp_delivers_text_and_html_with_unsubscribe_headers_and_footer(
    plain_server: SmtpServer, handler: Handler
) -> None:
    result = channel(plain_server.port).send(email())

    assert len(handler.received) == 1
    received = handler.received[0]
    assert received.mail_from == "reviews@mikesplumbing.example"
    assert received.rcpt_tos == ["john@example.com"]
    message = received.message
    assert message["From"] == FROM
    assert message["To"] == "John Smith <john@example.com>"
    assert message["Subject"] == "How did we do, John?"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == message_id_for("42:initial", FROM) == result.provider_message_id
    assert message.get_content_type() == "multipart/alternative"
    texts = parts(message)
    assert "Water Heater Installation with Mike?" in texts["text/plain"]
    assert "<b>Water Heater Installation</b>" in texts["text/html"]
    # The footer: who is writing, their postal address, and the unsubscribe link, in both parts.
    for content in texts.values():
        assert "12 Main St, Austin, TX 78701" in content
        assert UNSUBSCRIBE in content
    assert texts["text/html"].rstrip().endswith("</html>")
    assert result.provider == "smtp" and result.status == "sent"


def test_no_second_footer_when_the_template_has_the_unsubscribe_link(
    plain_server: SmtpServer, handler: Handler
) -> None:
    body = f"Hi John!\n\nNo more emails: {UNSUBSCRIBE}"
    channel(plain_server.port).send(email(body=body))

    assert parts(handler.received[0].message)["text/plain"].count(UNSUBSCRIBE) == 1


def test_non_ascii_names_subject_and_body_survive(plain_server: SmtpServer, handler: Handler) -> None:
    message = OutgoingMessage(
        channel="email",
        to="José Núñez <jose@example.com>",
        subject="¿Qué tal, José? ⭐",
        body="Gracias, José — 5 ⭐",
        idempotency_key="7:initial",
    )
    channel(plain_server.port).send(message)

    received = handler.received[0].message
    assert received["To"] == "José Núñez <jose@example.com>"
    assert received["Subject"] == "¿Qué tal, José? ⭐"
    assert "Gracias, José — 5 ⭐" in received.get_content()
    assert received["List-Unsubscribe"] is None
    assert handler.received[0].data.isascii()  # 7-bit safe for any relay


def test_a_non_ascii_mailbox_needs_smtputf8(handler: Handler) -> None:
    message = OutgoingMessage(channel="email", to="josé@example.com", body="Hola", idempotency_key="8:initial")
    with SmtpServer(handler) as server, pytest.raises(PermanentDeliveryError) as caught:
        channel(server.port).send(message)
    assert caught.value.code == "smtputf8"

    with SmtpServer(handler, smtputf8=True) as server:
        channel(server.port).send(message)
    assert handler.received[0].rcpt_tos == ["josé@example.com"]


def test_the_same_key_gives_the_same_message_id_and_another_key_another(
    plain_server: SmtpServer, handler: Handler
) -> None:
    smtp = channel(plain_server.port)
    first = smtp.send(email("42:initial"))
    again = smtp.send(email("42:initial"))
    follow_up = smtp.send(email("42:follow_up_1"))

    assert first.provider_message_id == again.provider_message_id != follow_up.provider_message_id
    assert [r.message["Message-ID"] for r in handler.received] == [
        first.provider_message_id,
        first.provider_message_id,
        follow_up.provider_message_id,
    ]
    assert smtp.find_sent(email(), since=datetime.now(UTC)) is None  # SMTP cannot be asked


def test_starttls_with_login(cert: tuple[Path, Path], client_tls: ssl.SSLContext, handler: Handler) -> None:
    with SmtpServer(handler, security="starttls", cert=cert, username="mailer", password="s3cret-pass") as server:
        smtp = channel(
            server.port, security="starttls", ssl_context=client_tls, username="mailer", password="s3cret-pass"
        )
        smtp.send(email())
        with pytest.raises(PermanentDeliveryError) as caught:
            channel(server.port, security="starttls", ssl_context=client_tls, username="mailer", password="wrong").send(
                email()
            )

    assert len(handler.received) == 1
    assert handler.received[0].message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert caught.value.code == "535"


def test_starttls_refuses_an_untrusted_certificate(cert: tuple[Path, Path], handler: Handler) -> None:
    with SmtpServer(handler, security="starttls", cert=cert) as server, pytest.raises(PermanentDeliveryError) as caught:
        channel(server.port, security="starttls").send(email())  # the default trust store does not know it

    assert caught.value.code == "tls"
    assert handler.received == []


def test_implicit_tls(cert: tuple[Path, Path], client_tls: ssl.SSLContext, handler: Handler) -> None:
    with SmtpServer(handler, security="ssl", cert=cert) as server:
        channel(server.port, security="ssl", ssl_context=client_tls).send(email())

    assert len(handler.received) == 1
    assert parts(handler.received[0].message)["text/html"]


def test_starttls_required_but_server_has_none_is_permanent(plain_server: SmtpServer) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        channel(plain_server.port, security="starttls").send(email())
    assert caught.value.code == "starttls"


def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientDeliveryError):
        channel(free_port()).send(email())


def test_unknown_recipient_550_is_permanent(plain_server: SmtpServer, handler: Handler) -> None:
    handler.rcpt_reply = "550 5.1.1 <john@example.com>: Recipient address rejected: User unknown"

    with pytest.raises(PermanentDeliveryError) as caught:
        channel(plain_server.port).send(email())

    assert caught.value.code == "550"
    assert handler.received == []


def test_greylisting_451_is_transient(plain_server: SmtpServer, handler: Handler) -> None:
    handler.rcpt_reply = "451 4.7.1 Greylisted, try again later"

    with pytest.raises(TransientDeliveryError) as caught:
        channel(plain_server.port).send(email())

    assert caught.value.code == "451"


def test_timeout_after_data_is_unknown(plain_server: SmtpServer, handler: Handler) -> None:
    handler.data_delay_s = 3.0

    with pytest.raises(DeliveryOutcomeUnknown):
        channel(plain_server.port, timeout=0.5).send(email())

    assert len(handler.received) == 1  # the server had the whole message: a blind resend would duplicate it


def test_wrong_channel_is_refused() -> None:
    with pytest.raises(PermanentDeliveryError):
        channel(1).send(OutgoingMessage(channel="sms", to="+15125550143", body="hi", idempotency_key="k"))
