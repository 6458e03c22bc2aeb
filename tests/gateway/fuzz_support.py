"""What the gateway fuzz modules share: the configuration (every secret set, so every verification path
runs), the route table read from the app, one request and how it is sent, and the checks that nothing was
stored; the strategies that generate requests are in fuzz_strategies.py, the fixtures in conftest.py."""

from __future__ import annotations

import re
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import fastapi.routing
import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from sandbox.jobber import SandboxConfig
from tests.gateway.test_webhooks_support import call, close_gateway

# -- configuration: every secret set, so every verification path runs -----------------------------------------
MAX_BODY = 2048
PUBLIC_URL = "http://gateway.test"  # the client's base URL too: Twilio signatures are computed over it
SANDBOX_CLIENT_ID = SandboxConfig.client_id
SANDBOX_CLIENT_SECRET = SandboxConfig.client_secret
JOBBER_WEBHOOK_SECRET = "fuzz-jobber-webhook-secret-3c1d"  # noqa: S105 - test values, below too
SLACK_SECRET = "fuzz-slack-signing-secret-8e2f"  # noqa: S105
TWILIO_TOKEN = "fuzz-twilio-auth-token-4a6b"  # noqa: S105
MAKE_TOKEN = "fuzz-make-webhook-token-9f0e"  # noqa: S105
MAKE_SECRET = "fuzz-make-webhook-secret-1b2c"  # noqa: S105
ADMIN_TOKEN = "fuzz-admin-token-5d7a"  # noqa: S105
ADMIN_USERNAME = "admin"
REAL_SECRETS = frozenset(
    {SANDBOX_CLIENT_SECRET, JOBBER_WEBHOOK_SECRET, SLACK_SECRET, TWILIO_TOKEN, MAKE_TOKEN, MAKE_SECRET, ADMIN_TOKEN}
)

SQLITE_EXAMPLES = 100
POSTGRES_EXAMPLES = 25

# What the issue lists; the enumeration must find at least these.
REQUIRED_PATHS = frozenset(
    {
        "/webhooks/jobber",
        "/webhooks/jobber/webhooks",
        "/api/webhooks/trigger-review",
        "/slack/commands",
        "/twilio/inbound",
        "/twilio/status",
        "/auth/jobber/connect",
        "/auth/jobber/callback",
        "/admin/jobber",
        "/r/{token}",
        "/u/{token}",
        "/healthz",
        "/metrics",
    }
)
# Tables that a request failing verification must never write to (the whole schema is checked as well).
GUARDED_TABLES = (
    "webhook_inbox",
    "review_requests",
    "deliveries",
    "suppressions",
    "inbound_messages",
    "slack_outbox",
    "accounts",
    "jobber_tokens",
)
# Endpoints behind a signature or token: with one of their own methods and the exact path, a fuzzed request is
# always refused (never 2xx/3xx/400/422: those would mean the check passed or was skipped). A body over the
# limit is refused (413) before any credential is looked at, on every route.
REFUSALS: dict[str, frozenset[int]] = {
    "/webhooks/jobber": frozenset({401, 413}),
    "/webhooks/jobber/webhooks": frozenset({401, 413}),
    "/slack/commands": frozenset({401, 413}),
    "/twilio/inbound": frozenset({401, 413}),
    "/twilio/status": frozenset({401, 413}),
    "/api/webhooks/trigger-review": frozenset({401, 413}),
    "/admin/jobber": frozenset({401, 413}),
    "/admin/jobber.json": frozenset({401, 413}),
    "/auth/jobber/connect": frozenset({401, 413}),
    "/metrics": frozenset({401, 413}),
}
# Routes that read a body: an oversized streamed one is 413, whatever the credentials.
BODY_ROUTES = (
    "/webhooks/jobber",
    "/webhooks/jobber/webhooks",
    "/slack/commands",
    "/twilio/inbound",
    "/twilio/status",
    "/api/webhooks/trigger-review",
)
HUGE_STREAM = 25 * 1024 * 1024
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
PATH_PARAM = re.compile(r"\{[^}]*\}")


# -- the routes, from the app ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    path: str
    methods: frozenset[str]

    def __str__(self) -> str:
        return f"{'|'.join(sorted(self.methods))} {self.path}"


def route_table(app: FastAPI) -> list[Endpoint]:
    """Every (path, methods) the app routes, merged per path.

    FastAPI >= 0.150 keeps included routers as `_IncludedRouter` entries of `app.routes`;
    `fastapi.routing.iter_route_contexts` walks them (older versions list the APIRoutes directly).
    """
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    candidates: Any = iter_contexts(app.routes) if iter_contexts is not None else app.routes
    found: dict[str, set[str]] = {}
    for route in candidates:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(path, str) and methods:
            found.setdefault(path, set()).update(m.upper() for m in methods)
    return [Endpoint(path, frozenset(methods)) for path, methods in sorted(found.items())]


def _enumerate_routes() -> list[Endpoint]:
    """The route table of a throwaway gateway (nothing connects to its in-memory engine)."""
    from deployments.gateway.app import create_app
    from tasks.settings import Settings

    engine = sa.create_engine("sqlite://")
    app = create_app(Settings(_env_file=None), engine=engine, relay=False)
    try:
        return route_table(app)
    finally:
        close_gateway(app)
        engine.dispose()


ROUTES = _enumerate_routes()


# -- generated requests ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FuzzRequest:
    """One concrete request (its repr is the reproducer)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, bytes], ...]
    body: bytes
    chunked: bool  # streamed without Content-Length

    @property
    def url(self) -> str:
        return self.path + ("?" + urlencode(self.query) if self.query else "")

    def describe(self, limit: int = 300) -> str:
        body = self.body if len(self.body) <= limit else self.body[:limit] + b"...(%d bytes)" % len(self.body)
        return (
            f"{self.method} {self.url} headers={list(self.headers)!r} body={body!r}"
            f"{' (chunked, no Content-Length)' if self.chunked else ''}"
        )


# -- sending and counting --------------------------------------------------------------------------------------
async def _chunks(body: bytes, size: int = 700) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def send(app: FastAPI, req: FuzzRequest, where: str) -> httpx.Response:
    """The app's answer. httpx.ASGITransport re-raises an unhandled exception instead of answering 500:
    that is reported as a 5xx naming the route and request, with the stack trace."""

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        content: Any = _chunks(req.body) if req.chunked else req.body
        request = client.build_request(
            req.method, req.url, content=content, headers=[(k.encode(), v) for k, v in req.headers]
        )
        return await client.send(request)

    try:
        return call(app, go)
    except Exception as exc:
        trace = "".join(traceback.format_exception(exc))
        raise AssertionError(f"{where}\n-> HTTP 500: the app raised {exc!r}\n{trace}") from exc


def count_query(engine: sa.Engine) -> tuple[list[str], sa.Select[Any]]:
    """One query counting the rows of every table of the schema."""
    names = sorted(sa.inspect(engine).get_table_names())
    query = sa.select(
        *(sa.select(sa.func.count()).select_from(sa.table(name)).scalar_subquery().label(name) for name in names)
    )
    return names, query


def row_counts(engine: sa.Engine, counting: tuple[list[str], sa.Select[Any]]) -> dict[str, int]:
    names, query = counting
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return dict(zip(names, row, strict=True))


def _changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {t: (before.get(t, 0), n) for t, n in after.items() if before.get(t, 0) != n}


# -- the fuzz --------------------------------------------------------------------------------------------------
def exercise(
    app: FastAPI, endpoint: Endpoint, req: FuzzRequest, counting: tuple[list[str], sa.Select[Any]]
) -> httpx.Response:
    """Send `req` and check the answer: not 5xx, no row written, and a refusal where a credential is needed."""
    engine: sa.Engine = app.state.engine
    where = f"route {endpoint}: {req.describe()}"
    before = row_counts(engine, counting)
    try:
        resp = send(app, req, where)
    except AssertionError as crash:  # a 500: still check that it left nothing behind
        changed = _changed(before, row_counts(engine, counting))
        assert not changed, f"{where}\n-> HTTP 500 and rows were stored (before, after): {changed}\n{crash}"
        raise
    assert resp.status_code < 500, f"{where}\n-> HTTP {resp.status_code}: {resp.text[:500]}"
    changed = _changed(before, row_counts(engine, counting))
    assert not changed, f"{where}\n-> HTTP {resp.status_code} and rows were stored (before, after): {changed}"
    refusals = REFUSALS.get(endpoint.path)
    if refusals is not None and req.method in endpoint.methods and req.path == endpoint.path:
        assert resp.status_code in refusals, (
            f"{where}\n-> HTTP {resp.status_code} for a request that is not correctly signed "
            f"(expected one of {sorted(refusals)}): {resp.text[:300]}"
        )
    return resp


def assert_nothing_stored(app: FastAPI, baseline: dict[str, int], counting: Any, what: str, last: list[str]) -> None:
    close_gateway(app)  # flush the webhook inbox's writer before the final count
    after = row_counts(app.state.engine, counting)
    recent = "\n".join(last[-5:])
    stored = {t: after[t] for t in GUARDED_TABLES if after[t]}
    assert not stored, f"{what}: rows stored by unverified requests: {stored}; last requests:\n{recent}"
    assert after == baseline, f"{what}: tables changed: {_changed(baseline, after)}; last requests:\n{recent}"
