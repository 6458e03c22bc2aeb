"""Email through SMTP (STARTTLS, implicit TLS or plain), as multipart text + HTML.

Each message carries `List-Unsubscribe: <url>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
(RFC 8058, which Gmail and Yahoo require of bulk senders) and a Message-ID derived from the idempotency
key, so a resend of the same review request is recognisably the same message.

How outcomes are classified:

| what happened                                        | raised                                    |
|------------------------------------------------------|-------------------------------------------|
| connection refused, timeout or drop before DATA      | TransientDeliveryError (nothing was sent) |
| 4xx reply (greylisting, mailbox busy, 421)           | TransientDeliveryError(code=<reply code>) |
| 5xx reply to MAIL/RCPT/DATA (unknown user, refused)  | PermanentDeliveryError(code=<reply code>) |
| login refused, STARTTLS missing, certificate invalid | PermanentDeliveryError (fix the settings) |
| timeout or drop after DATA was sent                  | DeliveryOutcomeUnknown                    |

SMTP cannot be asked what it accepted, so `find_sent()` returns None: email reconciliation relies on the
Delivery row in the database and on the Message-ID (a resend after an unknown outcome reuses it, and
receiving servers and clients treat two copies with one Message-ID as one message).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import logging
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from typing import Literal

from pydantic import SecretStr

from tasks.delivery.base import OutgoingMessage, SendResult
from tasks.errors import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

PROVIDER = "smtp"
Security = Literal["starttls", "ssl", "none"]
SECURITY_MODES: tuple[Security, ...] = ("starttls", "ssl", "none")
# 7-bit transfer encodings (quoted-printable/base64) work with every server, 8BITMIME or not.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")


def message_id_for(idempotency_key: str, from_address: str) -> str:
    """A Message-ID that is the same every time the same message (idempotency key) is sent."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<review.{digest}@{domain}>"


def _envelope_address(value: str) -> str:
    """The bare address for MAIL FROM / RCPT TO, its domain in IDNA ("josé@café.fr" -> "josé@xn--caf-dma.fr")."""
    address = parseaddr(value)[1] or value.strip()
    local, at, domain = address.rpartition("@")
    if not at:
        raise PermanentDeliveryError(f"not an email address: {value!r}", code="address", provider=PROVIDER)
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError as exc:
        raise PermanentDeliveryError(
            "the email address's domain is not valid", code="address", provider=PROVIDER
        ) from exc


class _Stage:
    """Where the conversation is, so a failure can be classified as before or after DATA."""

    def __init__(self) -> None:
        self.name = "connect"


class SmtpEmailChannel:
    """Sends email to one SMTP server (a relay, Postmark/SES/Mailgun SMTP, or a local catcher)."""

    name = PROVIDER

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        security: Security = "starttls",
        username: str | None = None,
        password: SecretStr | str | None = None,
        from_address: str,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        business_name: str | None = None,
        postal_address: str | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self._password = password if isinstance(password, SecretStr) or password is None else SecretStr(password)
        self.from_address = from_address
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.business_name = business_name
        self.postal_address = postal_address

    # -- building ---------------------------------------------------------------------------------

    def _footer(self, message: OutgoingMessage) -> tuple[str, str] | None:
        """A text and HTML footer with the unsubscribe link, when the rendered body does not have one."""
        url = message.unsubscribe_url
        if not url or url in message.body:
            return None
        lines = [line for line in (self.business_name, self.postal_address) if line]
        text = "\n\n--\n" + "".join(f"{line}\n" for line in lines) + f"Unsubscribe: {url}\n"
        html = (
            '<hr><p style="font-size:12px;color:#666">'
            + "".join(f"{html_lib.escape(line)}<br>" for line in lines)
            + f'<a href="{html_lib.escape(url, quote=True)}">Unsubscribe</a></p>'
        )
        return text, html

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The MIME message for `message` (exposed so tests and previews can see exactly what is sent)."""
        sender = message.from_address or self.from_address
        email = EmailMessage(policy=_POLICY)
        email["From"] = sender
        email["To"] = message.to
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = message_id_for(message.idempotency_key, sender)
        if message.unsubscribe_url:
            email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        footer = self._footer(message)
        text = message.body + (footer[0] if footer else "")
        email.set_content(text, subtype="plain", charset="utf-8")
        if message.html is not None:
            html = message.html
            if footer:
                html = html.replace("</body>", footer[1] + "</body>") if "</body>" in html else html + footer[1]
            email.add_alternative(html, subtype="html", charset="utf-8")
        return email

    # -- sending ----------------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl.create_default_context()
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.ehlo()
            smtp.starttls(context=context)
            smtp.ehlo()
        return smtp

    def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver to the SMTP server; returns the Message-ID as the provider's id."""
        if message.channel != "email":
            raise self._refused(f"{self.name} only sends email, not {message.channel}")
        email = self.build(message)
        message_id = str(email["Message-ID"])
        stage = _Stage()
        smtp: smtplib.SMTP | None = None
        try:
            smtp = self._connect()
            stage.name = "login"
            if self.username:
                password = self._password.get_secret_value() if self._password else ""
                smtp.login(self.username, password)
            self._transfer(smtp, email, message, stage)
        except smtplib.SMTPNotSupportedError as exc:
            raise self._refused(
                f"the SMTP server does not support what SMTP_SECURITY={self.security} needs: {exc}", "starttls"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise self._refused(
                f"the SMTP server refused the login (check SMTP_USERNAME / SMTP_PASSWORD): {exc.smtp_code}",
                str(exc.smtp_code),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._classify_reply(exc.smtp_code, exc.smtp_error, stage.name) from exc
        except ssl.SSLCertVerificationError as exc:
            raise self._refused(
                f"the SMTP server's TLS certificate was not accepted: {exc.verify_message}", "tls"
            ) from exc
        except OSError as exc:  # timeouts, refused or dropped connections, SMTPServerDisconnected, TLS errors
            if stage.name == "data":
                raise DeliveryOutcomeUnknown(
                    f"the SMTP server may have accepted the email: {type(exc).__name__} after DATA",
                    code="timeout" if isinstance(exc, TimeoutError) else "disconnected",
                    provider=self.name,
                ) from exc
            raise TransientDeliveryError(
                f"the SMTP server {self.host}:{self.port} failed during {stage.name}: {type(exc).__name__}",
                provider=self.name,
            ) from exc
        finally:
            if smtp is not None and stage.name != "done":
                smtp.close()  # after a failure: no QUIT, the server may be the thing that hangs
        assert smtp is not None
        try:
            smtp.quit()
        except OSError:  # the email was accepted; a lost QUIT changes nothing
            smtp.close()
        logger.info("SMTP server accepted email %s", message_id)
        return SendResult(provider=self.name, provider_message_id=message_id, status="sent")

    def _transfer(self, smtp: smtplib.SMTP, email: EmailMessage, message: OutgoingMessage, stage: _Stage) -> None:
        """MAIL, RCPT and DATA one by one, so a failure says which step it was."""
        sender = _envelope_address(message.from_address or self.from_address)
        recipient = _envelope_address(message.to)
        stage.name = "envelope"
        smtp.ehlo_or_helo_if_needed()
        options: list[str] = []
        policy = _POLICY
        if not (sender + recipient).isascii():  # an internationalised mailbox name needs SMTPUTF8 (RFC 6531)
            if not smtp.has_extn("smtputf8"):
                raise self._refused(
                    "the address has non-ASCII characters and the SMTP server does not support SMTPUTF8", "smtputf8"
                )
            options, policy = ["SMTPUTF8", "BODY=8BITMIME"], _POLICY.clone(utf8=True)
        code, reply = smtp.mail(sender, options)
        if code != 250:
            raise self._classify_reply(code, reply, "MAIL FROM")
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise self._classify_reply(code, reply, "RCPT TO")
        stage.name = "data"
        code, reply = smtp.data(email.as_bytes(policy=policy))
        if code != 250:
            raise self._classify_reply(code, reply, "DATA")
        stage.name = "done"

    def _classify_reply(
        self, code: int, reply: bytes | str, stage: str
    ) -> PermanentDeliveryError | TransientDeliveryError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        detail = f"the SMTP server answered {code} {text} ({stage})"
        if 400 <= code < 500 or code == -1:
            return TransientDeliveryError(detail, code=str(code), provider=self.name)
        return self._refused(detail, str(code))

    def _refused(self, detail: str, code: str | None = None) -> PermanentDeliveryError:
        """A refusal retrying cannot help, from this provider."""
        return PermanentDeliveryError(detail, code=code, provider=self.name)

    def find_sent(self, message: OutgoingMessage, *, since: datetime) -> SendResult | None:
        """Always None: an SMTP server cannot be asked what it accepted (see the module docstring)."""
        return None
