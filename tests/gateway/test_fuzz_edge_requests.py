"""Requests the gateway fuzz found (or might miss), sent on both databases every run, and bodies of 25 MiB
streamed without Content-Length to every route and method: refused with 413 while they are read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from tests.gateway.fuzz_support import (
    BODY_ROUTES,
    HUGE_STREAM,
    MAKE_TOKEN,
    MAX_BODY,
    PATH_PARAM,
    ROUTES,
    FuzzRequest,
    assert_nothing_stored,
    count_query,
    exercise,
    row_counts,
)
from tests.gateway.test_webhooks_support import call


# -- requests the fuzz found (or might miss): each one, on both databases, every run --------------------------
def _req(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    headers: Any = (),
    body: bytes = b"",
    chunked: bool = False,
) -> FuzzRequest:
    return FuzzRequest(
        method,
        path,
        tuple((query or {}).items()),
        tuple((k, v if isinstance(v, bytes) else v.encode()) for k, v in headers),
        body,
        chunked=chunked,
    )


_HUGE_FORM = b"Body=" + b"x" * (HUGE_STREAM - 5)
_HUGE_JSON = b'{"job_id":"' + b"1" * (HUGE_STREAM - 13) + b'"}'
_OVERSIZE_STREAMS: list[tuple[str, FuzzRequest]] = [
    (path, _req("POST", path, headers=headers, body=body, chunked=True))
    for path in BODY_ROUTES
    for headers, body in (
        ([("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", "x")], _HUGE_FORM),
        ([("Content-Type", "application/json"), ("Authorization", "Bearer " + MAKE_TOKEN)], _HUGE_JSON),
        ([("Content-Type", "application/json")], b"a" * (MAX_BODY + 1)),
    )
] + [
    # every other route and method, including those that never read a body: the gateway reads it first
    (endpoint.path, _req(method, PATH_PARAM.sub("x", endpoint.path), body=_HUGE_FORM, chunked=True))
    for endpoint in ROUTES
    for method in sorted(endpoint.methods)
    if endpoint.path not in BODY_ROUTES or method != "POST"
]


EDGE_CASES: list[tuple[str, FuzzRequest]] = [
    # a forged OAuth state whose nonce is not ASCII
    ("/auth/jobber/callback", _req("GET", "/auth/jobber/callback", query={"code": "x", "state": "123.\xe9.x"})),
    ("/auth/jobber/callback", _req("GET", "/auth/jobber/callback", query={"code": "x", "state": "\xb2.n.s"})),
    ("/auth/jobber/callback", _req("GET", "/auth/jobber/callback", query={"code": "not-a-code"})),
    # basic auth whose credentials are not ASCII (a byte over 0x7F in the header)
    ("/admin/jobber", _req("GET", "/admin/jobber", headers=[("Authorization", b"Basic \xe9")])),
    ("/admin/jobber.json", _req("GET", "/admin/jobber.json", headers=[("Authorization", b"Basic YWRtaW46eA==\xe9")])),
    # NUL in a click token (PostgreSQL text cannot hold it)
    ("/r/{token}", _req("GET", "/r/%00")),
    ("/u/{token}", _req("GET", "/u/a%00b")),
    ("/u/{token}", _req("POST", "/u/%00", body=b"List-Unsubscribe=One-Click")),
    # refusals that must stay refusals
    (
        "/slack/commands",
        _req(
            "POST", "/slack/commands", headers=[("X-Slack-Request-Timestamp", "１２３"), ("X-Slack-Signature", "v0=")]
        ),
    ),
    (
        "/twilio/inbound",
        _req(
            "POST",
            "/twilio/inbound",
            headers=[("X-Twilio-Signature", "x"), ("X-Twilio-Webhooks-Signature-Settings", "algorithm=MD5")],
            body=b"From=%2B15555550123&Body=STOP",
        ),
    ),
    (
        "/twilio/status",
        _req(
            "POST",
            "/twilio/status",
            headers=[("X-Twilio-Signature", "")],
            body=b"MessageSid=SM1&MessageStatus=delivered",
        ),
    ),
    (
        "/api/webhooks/trigger-review",
        _req(
            "POST",
            "/api/webhooks/trigger-review",
            headers=[("Authorization", "Bearer " + MAKE_TOKEN + "x")],
            body=b"{}",
        ),
    ),
    (
        "/webhooks/jobber",
        _req("POST", "/webhooks/jobber", headers=[("Content-Length", "0"), ("X-Jobber-Hmac-SHA256", "=")], body=b"{}"),
    ),
]


def test_oversized_streamed_bodies_are_refused_with_413_while_read(fuzz_gateway: FastAPI) -> None:
    """25 MiB streamed without Content-Length to every route and method of the gateway: 413, never 500,
    nothing stored, and the gateway stops reading soon after the limit (it never holds the whole body)."""
    assert len(_OVERSIZE_STREAMS) > 3 * len(BODY_ROUTES), "every route, not only those that read a body"
    counting = count_query(fuzz_gateway.state.engine)
    baseline = row_counts(fuzz_gateway.state.engine, counting)
    for path, req in _OVERSIZE_STREAMS:
        endpoint = next(e for e in ROUTES if e.path == path)
        pulled = 0

        async def counted(body: bytes = req.body, size: int = 700) -> AsyncIterator[bytes]:
            nonlocal pulled
            for start in range(0, len(body), size):
                pulled += min(size, len(body) - start)
                yield body[start : start + size]

        async def go(client: httpx.AsyncClient, req: FuzzRequest = req, counted: Any = counted) -> httpx.Response:
            request = client.build_request(
                req.method, req.url, content=counted(), headers=[(k.encode(), v) for k, v in req.headers]
            )
            return await client.send(request)

        where = f"route {endpoint}: {req.describe()}"
        resp = call(fuzz_gateway, go)
        assert resp.status_code == 413, f"{where}\n-> HTTP {resp.status_code}: {resp.text[:300]}"
        assert pulled <= MAX_BODY + 700, f"{where}\n-> read {pulled} bytes before refusing"
    assert_nothing_stored(
        fuzz_gateway, baseline, counting, "oversized streams", [r.describe() for _, r in _OVERSIZE_STREAMS]
    )


def test_edge_requests_never_5xx_and_store_nothing(fuzz_gateway: FastAPI) -> None:
    """Every edge case, one database per run (a migration per case would cost more than the requests)."""
    counting = count_query(fuzz_gateway.state.engine)
    baseline = row_counts(fuzz_gateway.state.engine, counting)
    failures: list[str] = []
    for path, req in EDGE_CASES:
        endpoint = next(e for e in ROUTES if e.path == path)
        try:
            exercise(fuzz_gateway, endpoint, req, counting)
        except AssertionError as exc:
            head, _, trace = str(exc).partition("\nTraceback")
            bottom = "\n".join(trace.splitlines()[-12:])  # where the app raised
            failures.append(f"{head}\n  ...\n{bottom}" if trace else head)
    assert not failures, f"{len(failures)} of {len(EDGE_CASES)} edge requests failed:\n\n" + "\n\n".join(failures)
    assert_nothing_stored(fuzz_gateway, baseline, counting, "edge requests", [r.describe() for _, r in EDGE_CASES])
