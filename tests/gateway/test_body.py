"""One body limit (GATEWAY_MAX_BODY_BYTES) for every route, enforced while reading: a 25 MiB body streamed
without Content-Length is refused with 413 after at most the limit (plus one chunk) has been read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from tests.gateway.test_webhooks_support import call, close_gateway, inbox_rows, make_gateway

LIMIT = 64 * 1024
CHUNK = 64 * 1024
HUGE = 25 * 1024 * 1024  # what the review reproduced


class Stream:
    """A request body streamed in chunks (no Content-Length), counting what the server pulled."""

    def __init__(self, total: int, prefix: bytes = b"") -> None:
        self.total = total
        self.prefix = prefix
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = self.prefix
        while self.sent < self.total:
            chunk = (first + b"a" * CHUNK)[:CHUNK]
            first = b""
            self.sent += len(chunk)
            yield chunk


@pytest.fixture
def gateway(db_url: str) -> Iterator[FastAPI]:
    app = make_gateway(
        db_url,
        gateway_max_body_bytes=LIMIT,
        twilio_auth_token="twilio-auth-token-for-tests-8c2d",
        make_webhook_token="make-webhook-token-for-tests-3e7a",
        slack_signing_secret="slack-signing-secret-for-tests-5f1b",
    )
    yield app
    close_gateway(app)


def post_stream(app: FastAPI, path: str, stream: Stream, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(path, content=stream, headers=headers or {})

    return call(app, go)


ROUTES = {
    "/twilio/inbound": ({"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}, b"Body="),
    "/twilio/status": ({"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}, b"a="),
    "/api/webhooks/trigger-review": (
        {"Content-Type": "application/json", "Authorization": "Bearer make-webhook-token-for-tests-3e7a"},
        b'{"job_id":"',
    ),
    "/slack/commands": ({"Content-Type": "application/x-www-form-urlencoded"}, b"text="),
    "/webhooks/jobber": ({"Content-Type": "application/json", "X-Jobber-Hmac-SHA256": "x"}, b'{"data":"'),
}


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_huge_streamed_body_is_refused_with_413_after_reading_at_most_the_limit(
    gateway: FastAPI, db_url: str, path: str
) -> None:
    headers, prefix = ROUTES[path]
    stream = Stream(HUGE, prefix)
    answer = post_stream(gateway, path, stream, headers)
    assert answer.status_code == 413, answer.text
    assert stream.sent <= LIMIT + CHUNK, f"{path} read {stream.sent} bytes of a {HUGE}-byte body"
    assert inbox_rows(db_url) == []


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_declared_content_length_over_the_limit_is_refused_before_reading(gateway: FastAPI, path: str) -> None:
    headers, _ = ROUTES[path]
    stream = Stream(LIMIT + 1)

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(path, content=stream, headers={**headers, "Content-Length": str(LIMIT + 1)})

    answer = call(gateway, go)
    assert answer.status_code == 413
    assert stream.sent <= CHUNK  # nothing read, or the one chunk the transport pushed before the answer


def test_bodies_at_the_limit_still_reach_the_route(gateway: FastAPI) -> None:
    """A body of exactly the limit is read whole: the Twilio route checks its signature (401), not its size."""
    answer = post_stream(gateway, "/twilio/inbound", Stream(LIMIT, b"Body="), dict(ROUTES["/twilio/inbound"][0]))
    assert answer.status_code == 401


def test_any_route_that_reads_its_body_gets_the_same_limit(db_url: str) -> None:
    """Routes added later (or reading with request.body()) are covered by the gateway's middleware."""
    app = make_gateway(db_url, gateway_max_body_bytes=LIMIT)

    @app.post("/echo-length")
    async def echo_length(request: Request) -> Response:
        return Response(str(len(await request.body())))

    try:
        stream = Stream(HUGE)
        answer = post_stream(app, "/echo-length", stream)
        small = post_stream(app, "/echo-length", Stream(LIMIT))
    finally:
        close_gateway(app)
    assert answer.status_code == 413 and answer.json() == {"detail": "request body too large"}
    assert stream.sent <= LIMIT + CHUNK
    assert small.status_code == 200 and small.text == str(LIMIT)
