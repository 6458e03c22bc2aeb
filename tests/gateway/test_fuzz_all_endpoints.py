"""Property-based fuzz of EVERY route of the gateway: no 5xx, and nothing stored for a request that fails verification.

The routes come from the app itself (`app.routes`, walked through FastAPI's included routers), so a new endpoint
is fuzzed without touching this file. Each route gets generated requests: one of its methods (or a wrong one),
random bytes / JSON / form bodies (some at or over GATEWAY_MAX_BODY_BYTES, some streamed without a
Content-Length), random query strings, content types and garbage headers, and plausible-but-wrong credentials
for every scheme the gateway checks (Jobber HMAC, Slack v0, Twilio, Make bearer / X-Signature, admin bearer /
basic). Every secret is configured, so every verification path runs. No request is ever correctly signed,
so no table may change: checked after every request (the diff names the request) and after each route's run.

OAuth's connect is admin-only and its callback needs a state bound to the admin's cookie, so no fuzzed code
reaches Jobber's token endpoint; the gateway is pointed at a local Jobber sandbox all the same. Oversized
bodies streamed without Content-Length (up to 25 MiB) must be refused with 413 while they are read, on every
route and method.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import fastapi.routing
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sandbox.jobber import SandboxConfig, SandboxServer
from tests.gateway.test_webhooks_support import call, close_gateway, make_settings

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
_PATH_PARAM = re.compile(r"\{[^}]*\}")


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


def test_route_enumeration_covers_every_documented_endpoint() -> None:
    paths = {endpoint.path for endpoint in ROUTES}
    missing = sorted(REQUIRED_PATHS - paths)
    assert not missing, f"route enumeration missed {missing}; found {sorted(paths)}"
    by_path = {endpoint.path: endpoint.methods for endpoint in ROUTES}
    assert {"GET", "POST"} <= by_path["/u/{token}"], f"/u/{{token}} methods: {by_path['/u/{token}']}"
    assert "POST" in by_path["/webhooks/jobber"], by_path["/webhooks/jobber"]


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


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _hmac(secret: str, data: bytes, algorithm: Any = hashlib.sha256) -> bytes:
    return hmac.new(secret.encode(), data, algorithm).digest()


printable = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def text(*, max_size: int) -> st.SearchStrategy[str]:
    """Any text a client can send: no lone surrogates (they have no UTF-8 encoding)."""
    return st.text(alphabet=st.characters(codec="utf-8"), max_size=max_size)


# Header values as the server would deliver them: any byte but controls (starlette decodes them as latin-1).
header_bytes = st.binary(max_size=80).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F))
wrong_secrets = st.one_of(
    st.sampled_from(["", "secret", "wrong", SANDBOX_CLIENT_SECRET.upper(), JOBBER_WEBHOOK_SECRET + " "]),
    text(max_size=40),
).filter(lambda s: s not in REAL_SECRETS)
# Credentials near the real ones that still must not pass (strip() must not turn them into a real one).
wrong_tokens = st.one_of(
    st.sampled_from([t + "x" for t in (ADMIN_TOKEN, MAKE_TOKEN)] + [t[:-1] for t in (ADMIN_TOKEN, MAKE_TOKEN)]),
    st.sampled_from([ADMIN_TOKEN.upper(), MAKE_TOKEN.upper(), "null", "undefined", "", "Bearer"]),
    st.text(alphabet=printable, max_size=60),
).filter(lambda t: t.strip() not in REAL_SECRETS)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Field names the endpoints read: Slack's form, Twilio's form, the Make.com trigger's JSON, Jobber's event.
form_keys = st.one_of(
    st.sampled_from(
        [
            "command",
            "text",
            "response_url",
            "ssl_check",
            "user_id",
            "team_id",
            "From",
            "To",
            "Body",
            "MessageSid",
            "SmsSid",
            "MessageStatus",
            "ErrorCode",
            "List-Unsubscribe",
            "email",
            "phone",
        ]
    ),
    text(max_size=12),
)
form_values = st.one_of(
    text(max_size=60),
    st.sampled_from(
        ["STOP", "START", "HELP", "1", "+15555550123", "https://hooks.slack.com/x", "delivered", "One-Click"]
    ),
)
form_bodies = st.lists(st.tuples(form_keys, form_values), max_size=6).map(lambda items: urlencode(items).encode())
jobber_events = st.fixed_dictionaries(
    {},
    optional={
        "topic": st.sampled_from(["JOB_CLOSED", "APP_DISCONNECT", "CLIENT_CREATE"]) | json_values,
        "accountId": text(max_size=40),
        "itemId": text(max_size=40),
        "occurredAt": st.sampled_from(["2025-01-24T15:30:00-06:00", "", "not a time"]) | text(max_size=20),
    },
).map(lambda event: json.dumps({"data": {"webHookEvent": event}}).encode())
make_bodies = st.fixed_dictionaries(
    {},
    optional={
        "client_name": text(max_size=30),
        "email": st.sampled_from(["a@example.com", "", "not-an-email"]) | text(max_size=20),
        "phone": st.sampled_from(["+15555550123", "555"]) | text(max_size=20),
        "job_id": text(max_size=20) | st.integers(),
        "review_link": st.sampled_from(["https://g.page/r/x", "javascript:alert(1)"]),
    },
).map(lambda data: json.dumps(data).encode())


def _huge(n: int, kind: str) -> bytes:
    if kind == "json":
        return b'{"k":"' + b"a" * max(n - 8, 0) + b'"}'
    if kind == "form":
        return b"Body=" + b"x" * max(n - 5, 0)
    return b"a" * n


huge_bodies = st.builds(
    _huge, st.integers(min_value=MAX_BODY - 8, max_value=MAX_BODY * 3), st.sampled_from(["json", "form", "raw"])
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=512),
    json_values.map(lambda v: json.dumps(v).encode()),
    form_bodies,
    jobber_events,
    make_bodies,
    huge_bodies,
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "text/plain",
            "application/xml",
            "application/json; charset=latin-1",
            "*/*",
            "",
        ]
    ),
    header_bytes.map(lambda b: b.decode("latin-1")),
)
path_texts = st.one_of(
    text(max_size=80),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=70),
    st.sampled_from(["", "x", "a" * 64, "a" * 65, "\x00", "a\x00b", "%00", "../admin/jobber", "..", " ", "null"]),
)
query_keys = st.one_of(
    st.sampled_from(["code", "state", "error", "error_description", "token", "bodySHA256", "format"]),
    text(max_size=12),
)
# A state shaped like the gateway's own (<unix time>.<nonce>.<signature>) but not signed with its secret.
no_dot = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="."), max_size=16)
forged_states = st.one_of(
    st.tuples(st.integers(0, 1200), no_dot, no_dot).map(lambda t: f"{int(time.time()) - t[0]}.{t[1]}.{t[2]}"),
    st.tuples(st.sampled_from(["0", "²", "١٢٣", "9" * 30, ""]), no_dot, no_dot).map(".".join),
)
query_values = st.one_of(
    text(max_size=60),
    st.sampled_from(["access_denied", "invalid_scope", "", "1.nonce.sig", "abc"]),
    forged_states,
)
# The parameters the endpoints read, drawn together (OAuth's callback needs `code` and `state` at once).
known_query = st.fixed_dictionaries(
    {},
    optional={
        "code": st.sampled_from(["x", "abc123", ""]) | text(max_size=40),
        "state": forged_states | text(max_size=40),
        "error": st.sampled_from(["access_denied", "server_error", ""]) | text(max_size=20),
        "error_description": text(max_size=40),
    },
)


def _form_params(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _twilio_signature(token: str, url: str, params: dict[str, str], algorithm: Any = hashlib.sha1) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return _b64(_hmac(token, data.encode(), algorithm))


@st.composite
def auth_headers(draw: st.DrawFn, path: str, body: bytes) -> list[tuple[str, str]]:
    """One group of plausible-but-wrong credentials for one of the gateway's schemes."""
    kind = draw(st.sampled_from(["jobber", "slack", "twilio", "bearer", "basic", "x-signature", "other"]))
    if kind == "jobber":
        value = draw(
            st.one_of(
                wrong_secrets.map(lambda s: _b64(_hmac(s, body))),  # the right body, a wrong secret
                st.just(_b64(_hmac(JOBBER_WEBHOOK_SECRET, body + b"\n"))),  # the right secret, another body
                st.just(_b64(_hmac(SANDBOX_CLIENT_SECRET, body + b" "))),
                st.binary(min_size=32, max_size=32).map(_b64),
                st.just(_hmac(JOBBER_WEBHOOK_SECRET, body + b"\n").hex()),  # hex instead of base64
                st.text(alphabet=printable, max_size=60),
            )
        )
        name = draw(st.sampled_from(["X-Jobber-Hmac-SHA256", "x-jobber-hmac-sha256"]))
        return [(name, value)]
    if kind == "slack":
        now = int(time.time())
        offset = draw(st.integers(min_value=301, max_value=10**7))
        stale = str(now - offset if draw(st.booleans()) else now + offset)
        timestamp, signature = draw(
            st.one_of(
                # correctly signed, but outside the five-minute window
                st.just((stale, "v0=" + _hmac(SLACK_SECRET, f"v0:{stale}:".encode() + body).hex())),
                # fresh, signed with a wrong secret
                wrong_secrets.map(lambda s: (str(now), "v0=" + _hmac(s, f"v0:{now}:".encode() + body).hex())),
                # fresh, the right secret over another body
                st.just((str(now), "v0=" + _hmac(SLACK_SECRET, f"v0:{now}:".encode() + body + b"&").hex())),
                # the right secret and time, another version prefix
                st.just((str(now), "v1=" + _hmac(SLACK_SECRET, f"v0:{now}:".encode() + body).hex())),
                st.tuples(
                    st.sampled_from(["", "abc", "-1", "1e9", "１２３", str(now) + "0" * 20, str(now)]),
                    st.text(alphabet=printable, max_size=70),
                ),
            )
        )
        return [("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", signature)]
    if kind == "twilio":
        params = _form_params(body)
        signature = draw(
            st.one_of(
                wrong_secrets.map(lambda s: _twilio_signature(s, PUBLIC_URL + path, params)),
                st.just(_twilio_signature(TWILIO_TOKEN, "http://evil.test" + path, params)),  # another URL
                st.just(_twilio_signature(TWILIO_TOKEN, PUBLIC_URL + path + "/", params)),
                st.binary(min_size=20, max_size=32).map(_b64),
                st.text(alphabet=printable, max_size=60),
            )
        )
        headers = [("X-Twilio-Signature", signature)]
        if draw(st.booleans()):
            setting = draw(
                st.sampled_from(["algorithm=HMAC_SHA256", "algorithm=MD5", "algorithm=", "key=x,algorithm=NONE", ""])
                | st.text(alphabet=printable, max_size=40)
            )
            headers.append(("X-Twilio-Webhooks-Signature-Settings", setting))
        return headers
    if kind == "bearer":
        scheme = draw(st.sampled_from(["Bearer ", "bearer ", "BEARER ", "Bearer", "Token "]))
        return [("Authorization", scheme + draw(wrong_tokens))]
    if kind == "basic":
        raw = draw(
            st.one_of(
                wrong_tokens.map(lambda t: f"{ADMIN_USERNAME}:{t}".encode()),  # right user, wrong password
                st.just(f"root:{ADMIN_TOKEN}".encode()),  # wrong user, right password
                st.just(ADMIN_TOKEN.encode()),  # no colon
                st.binary(max_size=40),
            )
        )
        encoded = draw(
            st.sampled_from([_b64(raw), _b64(raw).rstrip("="), "!!not base64!!", _b64(raw) + "\xe9", "\xe9"])
            | text(max_size=30).map(lambda t: t.encode("latin-1", "replace").decode("latin-1"))
        )
        return [("Authorization", "Basic " + encoded)]
    if kind == "x-signature":
        value = draw(
            st.one_of(
                wrong_secrets.map(lambda s: hmac.new(s.encode(), body, hashlib.sha256).hexdigest()),
                st.just("sha256=" + _hmac(MAKE_SECRET, body + b" ").hex()),
                st.just(_b64(_hmac(MAKE_SECRET, body + b" "))),
                st.text(alphabet=printable, max_size=70),
            )
        )
        return [("X-Signature", value)]
    name = draw(
        st.sampled_from(
            ["Content-Length", "Transfer-Encoding", "User-Agent", "Accept", "Cookie", "X-Forwarded-For", "Origin"]
        )
        | st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"), min_size=1
        ).filter(lambda n: n.lower() not in ("host", "content-length"))
    )  # (a garbage Host breaks the test client's redirect handling, not the app)
    if name == "Content-Length":
        # HTTP servers (h11, httptools) refuse a Content-Length that is not ASCII digits before the app sees it,
        # so only digits are sent: wrong ones (too small, too large, huge), never garbage.
        value = draw(
            st.sampled_from(["0", str(len(body) + 1), str(max(len(body) - 1, 0)), str(MAX_BODY + 1), "0" * 30])
            | st.integers(0, 10**20).map(str)
        )
        return [(name, value)]
    value = draw(
        st.sampled_from(["-1", "0", "abc", "chunked", "gzip, chunked", "facebookexternalhit/1.1", "Slackbot 1.0"])
        | header_bytes.map(lambda b: b.decode("latin-1"))
    )
    return [(name, value)]


def _fill(path: str, draw: st.DrawFn) -> str:
    return _PATH_PARAM.sub(lambda _: quote(draw(path_texts), safe=""), path)


@st.composite
def requests_for(draw: st.DrawFn, endpoint: Endpoint) -> FuzzRequest:
    own = sorted(endpoint.methods)
    wrong = [m for m in ALL_METHODS if m not in endpoint.methods]
    use_wrong = bool(wrong) and draw(st.integers(0, 4)) == 0  # one request in five uses a method the route lacks
    method = draw(st.sampled_from(wrong if use_wrong else own))
    path = _fill(endpoint.path, draw)
    if draw(st.integers(0, 9)) == 0:
        path = path.rstrip("/") + "/" if not path.endswith("/") else path.rstrip("/") or "/"
    query = tuple(draw(known_query).items()) + tuple(draw(st.lists(st.tuples(query_keys, query_values), max_size=3)))
    body = draw(bodies)
    headers: list[tuple[str, str]] = []
    content_type = draw(content_types)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    for group in draw(st.lists(auth_headers(path, body), max_size=4)):
        headers.extend(group)
    return FuzzRequest(
        method=method,
        path=path,
        query=query,
        headers=tuple((name, value.encode()) for name, value in headers),  # a server passes UTF-8 bytes on
        body=body,
        # one in six streamed without Content-Length; oversized bodies one in two (read until the cap)
        chunked=bool(body) and draw(st.integers(0, 1 if len(body) > MAX_BODY else 5)) == 0,
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


# -- fixtures --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jobber_sandbox() -> Iterator[SandboxServer]:
    """Jobber's token endpoint for the OAuth callback (it refuses every fuzzed code)."""
    with SandboxServer(SandboxConfig(seed=5, clients=1, jobs=1, invoices=1, quotes=1, users=1)) as server:
        yield server


@pytest.fixture
def fuzz_gateway(db_url: str, jobber_sandbox: SandboxServer) -> Iterator[FastAPI]:
    from deployments.gateway.app import create_app
    from tasks.store.db import get_engine

    config = make_settings(
        db_url,
        jobber_base_url=jobber_sandbox.url,
        jobber_client_id=SANDBOX_CLIENT_ID,
        jobber_client_secret=SANDBOX_CLIENT_SECRET,
        jobber_webhook_secret=JOBBER_WEBHOOK_SECRET,
        jobber_timeout_s=10.0,
        slack_signing_secret=SLACK_SECRET,
        twilio_auth_token=TWILIO_TOKEN,
        make_webhook_token=MAKE_TOKEN,
        make_webhook_secret=MAKE_SECRET,
        admin_token=ADMIN_TOKEN,
        admin_username=ADMIN_USERNAME,
        public_url=PUBLIC_URL,
        gateway_max_body_bytes=MAX_BODY,
    )
    for name in ("client_secret", "webhook_secrets", "slack_signing_secret", "twilio_auth_token", "admin_token"):
        assert getattr(config, name), f"{name} must be configured so its verification runs"
    app = create_app(config, engine=get_engine(db_url), relay=False)
    yield app
    close_gateway(app)


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


@pytest.mark.parametrize("endpoint", ROUTES, ids=str)
def test_every_route_never_5xx_and_stores_nothing_unverified(
    endpoint: Endpoint, fuzz_gateway: FastAPI, db_url: str
) -> None:
    counting = count_query(fuzz_gateway.state.engine)
    baseline = row_counts(fuzz_gateway.state.engine, counting)
    assert all(baseline[t] == 0 for t in GUARDED_TABLES), f"the database is not empty before the fuzz: {baseline}"
    sent: list[str] = []

    @settings(
        max_examples=SQLITE_EXAMPLES if db_url.startswith("sqlite") else POSTGRES_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no slow "explain"
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(req=requests_for(endpoint))
    def fuzz(req: FuzzRequest) -> None:
        sent.append(f"route {endpoint}: {req.describe()}")
        exercise(fuzz_gateway, endpoint, req, counting)

    fuzz()
    assert_nothing_stored(fuzz_gateway, baseline, counting, f"route {endpoint}", sent)


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
    (endpoint.path, _req(method, _PATH_PARAM.sub("x", endpoint.path), body=_HUGE_FORM, chunked=True))
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
