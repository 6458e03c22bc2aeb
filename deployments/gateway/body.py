"""Request bodies under one limit, GATEWAY_MAX_BODY_BYTES, for every route of the gateway.

The limit is enforced while reading: a declared Content-Length over the limit is refused before a byte
is read, and a streamed (chunked) body stops being read as soon as it passes the limit. Nothing ever
holds more than `limit` bytes of one request.

- `read_body(receive, declared, limit)`: the raw body from the ASGI receive channel (Jobber's webhook
  fast path uses it directly: no Request object on the hot path).
- `read_request_body(request, limit)`: the same for a Starlette/FastAPI request (Twilio, Make.com, Slack).
  Both raise `BodyTooLarge` (answer 413) or `ClientDisconnected`.
- `BodyLimitMiddleware`: the safety net for every other route (and any route added later). It wraps the
  receive channel with the same count and turns a `BodyTooLarge` that escapes a route into a 413.
  Routes that never read their body are not slowed down: nothing is read on their behalf.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

TOO_LARGE_BODY = b'{"detail":"request body too large"}'


class BodyTooLarge(Exception):
    """The request's body is (or says it is) larger than the gateway's limit."""


class ClientDisconnected(Exception):
    """The client went away before sending its whole body."""


def declared_too_large(declared: bytes | str | None, limit: int) -> bool:
    """True when a Content-Length header value announces more than `limit` bytes."""
    if declared is None:
        return False
    text = declared.decode("latin-1") if isinstance(declared, bytes) else declared
    text = text.strip()
    # Only ASCII digits are a length (int() would also take "١٢٣" or "+1_0"); servers refuse the rest.
    return text.isascii() and text.isdigit() and int(text) > limit


async def read_body(receive: Receive, declared: bytes | str | None, limit: int) -> bytes:
    """The raw body from the ASGI receive channel, refusing (before reading it whole) more than `limit` bytes."""
    if declared_too_large(declared, limit):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_request_body(request: Request, limit: int) -> bytes:
    """`request`'s raw body under `limit` (cached on the request like `await request.body()`)."""
    cached: bytes | None = getattr(request, "_body", None)
    if cached is not None:
        if len(cached) > limit:
            raise BodyTooLarge
        return cached
    body = await read_body(request.receive, request.headers.get("content-length"), limit)
    request._body = body  # later `await request.body()` / `.form()` reuse it instead of reading again
    return body


class BodyLimitMiddleware:
    """Every route's body under `limit`: counted as it is received, 413 when a route reads past it."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            if declared_too_large(declared, limit):
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            log.warning("Refused %s %s: body larger than %d bytes", scope.get("method"), scope.get("path"), limit)
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": TOO_LARGE_BODY})
