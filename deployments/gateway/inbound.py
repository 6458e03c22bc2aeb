"""What every request from outside passes before a route acts on it: one body limit, one check per provider,
one refusal.

**The body** (GATEWAY_MAX_BODY_BYTES, every route): the limit is enforced while reading. A declared
Content-Length over the limit is refused before a byte is read; a streamed (chunked) body stops being read
as soon as it passes the limit. Nothing ever holds more than `limit` bytes of one request. One counter,
`CappedReceive`, does this for every reader:
- `read_body(receive, declared, limit)`: the raw body from the ASGI receive channel (Jobber's webhook fast
  path uses it directly: no Request object on the hot path);
- `read_request_body(request, limit)`: the same for a Starlette/FastAPI request;
- `BodyLimitMiddleware`: every route but the webhook fast path (which reads with `read_body` itself), and
  any route added later: a body is read under the limit before the route runs, so an oversized one is
  answered 413 on every route, whether the route would have read it or not.

**The provider** (a `Verifier` each, one interface): `verifier.check(inbound)` looks at the raw body and
the headers (nothing is parsed before it passes) and returns None, or the reason to log (never a secret):

- Jobber: X-Jobber-Hmac-SHA256 = base64 HMAC-SHA256 of the raw body, keyed with the client secret. No
  timestamp is signed, so a replay is stopped by the inbox's dedupe on the event's identity.
- Slack: X-Slack-Signature = v0 HMAC-SHA256 of "v0:{timestamp}:{body}", and X-Slack-Request-Timestamp
  within five minutes either way (a replayed old request is refused).
- Twilio: X-Twilio-Signature, checked by Twilio's RequestValidator over PUBLIC_URL + path + query (the
  address Twilio called, not the one this process sees behind a proxy) and the form parameters.
- Make.com: `Authorization: Bearer <MAKE_WEBHOOK_TOKEN>`, or X-Signature = hex HMAC-SHA256 of the raw body
  keyed with MAKE_WEBHOOK_SECRET.

Digests and tokens are compared in constant time, against every configured secret (several while one is
rotated) without an early exit; an unset secret refuses everything.

**The refusal**, the same for every route whatever failed: 401 `{"detail":"unauthorized"}` (the reason is
only logged), 413 `{"detail":"request body too large"}`, and 400 `{"detail":"the request body did not
arrive"}` when the client went away mid-body. `verified_body(request, verifier)` does the three steps for a
FastAPI route: read (capped) -> check -> the raw body, or the refusal to return.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tasks.errors import BodyTooLarge, ClientDisconnected
from tasks.settings import Settings, secret_text

log = logging.getLogger(__name__)

JSON = "application/json"
UNAUTHORIZED = b'{"detail":"unauthorized"}'
TOO_LARGE = b'{"detail":"request body too large"}'
NOT_ARRIVED = b'{"detail":"the request body did not arrive"}'
REFUSALS = {401: UNAUTHORIZED, 413: TOO_LARGE, 400: NOT_ARRIVED}

JOBBER_SIGNATURE = "x-jobber-hmac-sha256"
SLACK_SIGNATURE, SLACK_TIMESTAMP = "x-slack-signature", "x-slack-request-timestamp"
SLACK_TOLERANCE_S = 300
TWILIO_SIGNATURE, TWILIO_SIGNATURE_SETTINGS = "x-twilio-signature", "x-twilio-webhooks-signature-settings"
MAKE_SIGNATURE = "x-signature"

_SHA256_BYTES = hashlib.sha256().digest_size


def refusal(status: int) -> Response:
    """The answer for a refused request: 401, 413 or 400, with its one JSON body."""
    return Response(REFUSALS[status], status_code=status, media_type=JSON)


# -- the body -----------------------------------------------------------------------------------------------


def declared_too_large(declared: bytes | str | None, limit: int) -> bool:
    """True when a Content-Length header value announces more than `limit` bytes."""
    if declared is None:
        return False
    text = declared.decode("latin-1") if isinstance(declared, bytes) else declared
    text = text.strip()
    # Only ASCII digits are a length (int() would also take "١٢٣" or "+1_0"); servers refuse the rest.
    return text.isascii() and text.isdigit() and int(text) > limit


class CappedReceive:
    """An ASGI receive channel that raises `BodyTooLarge` once the body passes `limit` (or says it will)."""

    def __init__(self, receive: Receive, declared: bytes | str | None, limit: int) -> None:
        self._receive = receive
        self._refuse = declared_too_large(declared, limit)
        self._left = limit

    async def __call__(self) -> Message:
        if self._refuse:
            raise BodyTooLarge("the declared Content-Length is over the limit")
        message = await self._receive()
        if message["type"] == "http.request":
            self._left -= len(message.get("body", b""))
            if self._left < 0:
                raise BodyTooLarge("the body passed the limit while it was read")
        return message


async def read_body(receive: Receive, declared: bytes | str | None, limit: int) -> bytes:
    """The raw body from the ASGI receive channel, refusing (before reading it whole) more than `limit` bytes."""
    capped = CappedReceive(receive, declared, limit)
    chunks: list[bytes] = []
    while True:
        message = await capped()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("the client went away before sending its whole body")
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_request_body(request: Request, limit: int) -> bytes:
    """`request`'s raw body under `limit` (cached on the request like `await request.body()`)."""
    cached: bytes | None = getattr(request, "_body", None)
    if cached is not None:
        if len(cached) > limit:
            raise BodyTooLarge("the body is over the limit")
        return cached
    body = await read_body(request.receive, request.headers.get("content-length"), limit)
    request._body = body  # later `await request.body()` / `.form()` reuse it instead of reading again
    return body


class BodyLimitMiddleware:
    """Every route's body under `limit`, whether the route reads it or not.

    A request that carries a body (a Content-Length above 0, or Transfer-Encoding) has it read here first,
    under the limit, and handed to the route from memory: an oversized body, chunked included, is answered
    413 after at most `limit` bytes (plus the chunk that passed it), on every route. A request without one
    goes straight through, its receive channel counted all the same.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if _carries_body(scope, declared):
            try:
                body = await read_body(receive, declared, self.limit)
            except BodyTooLarge:
                await self._too_large(scope, send)
                return
            except ClientDisconnected:
                return  # nobody is left to answer
            receive = _replay(body, receive)
        else:
            receive = CappedReceive(receive, declared, self.limit)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        log.warning("Refused %s %s: body larger than %d bytes", scope.get("method"), scope.get("path"), self.limit)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", JSON.encode()),
                    (b"content-length", str(len(TOO_LARGE)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": TOO_LARGE})


def _carries_body(scope: Scope, declared: bytes | None) -> bool:
    if declared is not None:
        return declared.strip() not in (b"", b"0")
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives `body` once, then whatever the client sends next (its disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# -- the provider -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inbound:
    """What a verifier sees of a request: the raw body, the headers (looked up in lower case), the URL the
    provider called (PUBLIC_URL + path + query: Twilio signs it) and when it arrived (Unix seconds)."""

    body: bytes
    headers: Mapping[str, str]
    url: str = ""
    now: float = field(default_factory=time.time)


class Verifier(Protocol):
    """Proves that a request comes from its provider."""

    @property
    def provider(self) -> str:
        """Who the request claims to come from, for the log ("Jobber", "Slack", "Twilio", "Make.com")."""

    @property
    def configured(self) -> bool:
        """False when the secret it needs is not set: every request is refused, and that is logged as an error."""

    def check(self, inbound: Inbound) -> str | None:
        """None when the request is authentic, else why not (for the log; never contains a secret)."""


def _any_digest_matches(expected: Sequence[bytes], given: bytes) -> bool:
    """Constant time, and no early exit: the time taken does not say which secret matched."""
    matched = False
    for digest in expected:
        matched |= hmac.compare_digest(digest, given)
    return matched


@dataclass(frozen=True)
class JobberVerifier:
    """Jobber's webhooks: X-Jobber-Hmac-SHA256 = base64(HMAC-SHA256(raw body, secret)), padded."""

    secrets: Sequence[str]
    provider: str = "Jobber"

    @property
    def configured(self) -> bool:
        return any(self.secrets)

    def check(self, inbound: Inbound) -> str | None:
        if not self.configured:
            return "no secret configured (set JOBBER_WEBHOOK_SECRET or JOBBER_CLIENT_SECRET)"
        header = inbound.headers.get(JOBBER_SIGNATURE)
        if not header:
            return "missing signature header"
        given = _decode_base64_digest(header)
        if given is None:
            return "signature is not a base64 SHA-256 digest"
        expected = [hmac.new(s.encode("utf-8"), inbound.body, hashlib.sha256).digest() for s in self.secrets if s]
        return None if _any_digest_matches(expected, given) else "signature does not match"


def _decode_base64_digest(header: str) -> bytes | None:
    candidate = header.strip()
    if not candidate or len(candidate) > 4 * ((_SHA256_BYTES + 2) // 3) + 4:
        return None
    try:
        raw = base64.b64decode(candidate.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeError):
        return None
    return raw if len(raw) == _SHA256_BYTES else None


@dataclass(frozen=True)
class SlackVerifier:
    """Slack's request signing v0; see tasks/slack/signature.py for how a request is signed."""

    secrets: Sequence[str]
    tolerance_s: int = SLACK_TOLERANCE_S
    provider: str = "Slack"

    @property
    def configured(self) -> bool:
        return bool(self.secrets)

    def check(self, inbound: Inbound) -> str | None:
        from tasks.slack.signature import VERSION, compute_signature

        if not self.configured:
            return "SLACK_SIGNING_SECRET is not set"
        timestamp, signature = inbound.headers.get(SLACK_TIMESTAMP), inbound.headers.get(SLACK_SIGNATURE)
        if not timestamp or not signature:
            return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return "malformed timestamp"
        skew = inbound.now - int(timestamp)
        if abs(skew) > self.tolerance_s:  # a replayed old request, or one from a clock far ahead
            return f"timestamp {'too old' if skew > 0 else 'in the future'} ({int(skew)}s)"
        if not signature.startswith(f"{VERSION}="):
            return "unsupported signature version"
        expected = [compute_signature(s, timestamp, inbound.body).encode() for s in self.secrets]
        return None if _any_digest_matches(expected, signature.encode()) else "signature mismatch"


@dataclass(frozen=True)
class TwilioVerifier:
    """Twilio's X-Twilio-Signature, checked by Twilio's own RequestValidator over the public URL and the
    form parameters (or the body's hash, for JSON callbacks: the validator reads `bodySHA256`)."""

    auth_token: str | None
    provider: str = "Twilio"

    @property
    def configured(self) -> bool:
        return bool(self.auth_token)

    def check(self, inbound: Inbound) -> str | None:
        from twilio.request_validator import RequestValidator, get_signature_algorithm

        if not self.auth_token:
            return "TWILIO_AUTH_TOKEN is not set"
        signature = inbound.headers.get(TWILIO_SIGNATURE)
        if not signature:
            return "no X-Twilio-Signature header"
        try:
            params = form_params(inbound.body)
        except UnicodeDecodeError:
            return "body is not UTF-8 form data"
        algorithm = get_signature_algorithm(inbound.headers.get(TWILIO_SIGNATURE_SETTINGS))
        if not RequestValidator(self.auth_token).validate(inbound.url, params, signature, algorithm):
            return "signature does not match (is PUBLIC_URL the address Twilio calls?)"
        return None


def form_params(body: bytes) -> Any:
    """An `application/x-www-form-urlencoded` body as a MultiDict (repeated keys kept, blanks kept)."""
    from starlette.datastructures import MultiDict

    return MultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))


@dataclass(frozen=True)
class MakeVerifier:
    """Make.com scenarios: `Authorization: Bearer <MAKE_WEBHOOK_TOKEN>`, or `X-Signature: [sha256=]<hex
    HMAC-SHA256 of the raw body keyed with MAKE_WEBHOOK_SECRET>`."""

    token: str | None
    secret: str | None
    provider: str = "Make.com"

    @property
    def configured(self) -> bool:
        return bool(self.token or self.secret)

    def check(self, inbound: Inbound) -> str | None:
        if not self.configured:
            return "neither MAKE_WEBHOOK_TOKEN nor MAKE_WEBHOOK_SECRET is set"
        header = inbound.headers.get("authorization", "")
        if self.token and header[:7].lower() == "bearer ":
            if hmac.compare_digest(header[7:].strip().encode(), self.token.encode()):
                return None
        signature = inbound.headers.get(MAKE_SIGNATURE, "").strip().lower().removeprefix("sha256=")
        if self.secret and signature:
            expected = hmac.new(self.secret.encode(), inbound.body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(signature.encode(), expected.encode()):
                return None
        return "no valid bearer token or X-Signature"


@dataclass(frozen=True)
class Verifiers:
    """The gateway's verifiers, built once from its settings (`verifiers_for(app)`)."""

    jobber: JobberVerifier
    slack: SlackVerifier
    twilio: TwilioVerifier
    make: MakeVerifier

    @classmethod
    def from_settings(cls, settings: Settings) -> Verifiers:
        from tasks.slack.signature import signing_secrets

        return cls(
            jobber=JobberVerifier([s.get_secret_value() for s in settings.webhook_secrets]),
            slack=SlackVerifier(signing_secrets(secret_text(settings.slack_signing_secret))),
            twilio=TwilioVerifier(secret_text(settings.twilio_auth_token)),
            make=MakeVerifier(secret_text(settings.make_webhook_token), secret_text(settings.make_webhook_secret)),
        )


def verifiers_for(app: Any) -> Verifiers:
    """The verifiers of a gateway app (built from `app.state.settings` on first use, then kept)."""
    found: Verifiers | None = getattr(app.state, "verifiers", None)
    if found is None:
        found = Verifiers.from_settings(app.state.settings)
        app.state.verifiers = found
    return found


def refused_by(verifier: Verifier, inbound: Inbound, *, where: str) -> int | None:
    """401 (the reason logged: an error when the verifier lacks its secret) or None when authentic."""
    reason = verifier.check(inbound)
    if reason is None:
        return None
    level = logging.WARNING if verifier.configured else logging.ERROR
    log.log(level, "%s request to %s refused: %s (%d bytes)", verifier.provider, where, reason, len(inbound.body))
    return 401


def public_url(settings: Settings, request: Request) -> str:
    """The URL the provider called: PUBLIC_URL + this path (+ the query string it signed with it)."""
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def verified_body(request: Request, verifier: Verifier) -> bytes | Response:
    """Read the body under GATEWAY_MAX_BODY_BYTES and check it with `verifier`: the raw body, or the refusal
    (413, 400 or 401) for the route to return as it is."""
    settings: Settings = request.app.state.settings
    limit = settings.gateway_max_body_bytes
    where = request.url.path
    try:
        body = await read_request_body(request, limit)
    except BodyTooLarge:
        log.warning("%s request to %s refused: body larger than %d bytes", verifier.provider, where, limit)
        return refusal(413)
    except ClientDisconnected:
        return refusal(400)
    inbound = Inbound(body=body, headers=request.headers, url=public_url(settings, request))
    status = refused_by(verifier, inbound, where=where)
    return body if status is None else refusal(status)


__all__ = [
    "BodyLimitMiddleware",
    "CappedReceive",
    "Inbound",
    "JobberVerifier",
    "MakeVerifier",
    "SlackVerifier",
    "TwilioVerifier",
    "Verifier",
    "Verifiers",
    "declared_too_large",
    "form_params",
    "public_url",
    "read_body",
    "read_request_body",
    "refusal",
    "refused_by",
    "verified_body",
    "verifiers_for",
]
