"""Bad input: property-based fuzzing of the webhook endpoints, and canary secrets that must never be logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.test_webhooks_support import (
    SECRET,
    call,
    close_gateway,
    inbox_rows,
    make_gateway,
    signature,
    signed_headers,
    webhook_body,
)

PATHS = ["/webhooks/jobber", "/webhooks/jobber/webhooks", "/webhooks/jobber/", "/webhooks", "/healthz", "/metrics"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MAX_BODY = 2048
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_names = st.sampled_from(
    ["X-Jobber-Hmac-SHA256", "x-jobber-hmac-sha256", "Content-Type", "Content-Length", "Transfer-Encoding", "X-Other"]
)
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
    st.sampled_from(["", "0", "-1", "99999999999", "chunked", "application/json", "=" * 44, "A" * 44]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
event_fields = st.fixed_dictionaries(
    {},
    optional={
        "topic": st.one_of(st.sampled_from(["JOB_CLOSED", "APP_DISCONNECT", "job_closed", "X" * 70]), json_values),
        "accountId": st.one_of(st.text(max_size=220), json_values),
        "itemId": st.one_of(st.text(max_size=220), json_values),
        "occurredAt": st.one_of(st.text(max_size=70), json_values),
        "occuredAt": st.text(max_size=40),
        "appId": json_values,
    },
)
jobberish_bodies = st.one_of(
    event_fields.map(lambda e: json.dumps({"data": {"webHookEvent": e}}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.integers(min_value=MAX_BODY - 5, max_value=MAX_BODY * 3).map(lambda n: b"{" + b" " * n + b"}"),
)


@pytest.fixture
def gateway(db_url: str) -> Iterator[FastAPI]:
    app = make_gateway(db_url, gateway_max_body_bytes=MAX_BODY)
    yield app
    close_gateway(app)


def _send(app: FastAPI, method: str, path: str, body: bytes, headers: list[tuple[str, str]]) -> httpx.Response:
    async def go(client: httpx.AsyncClient) -> httpx.Response:
        request = client.build_request(method, path, content=body if method not in ("GET", "HEAD") else None)
        for name, value in headers:
            request.headers[name] = value
        return await client.send(request)

    return call(app, go)


@FUZZ
@given(
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS),
    body=jobberish_bodies,
    headers=st.lists(st.tuples(header_names, header_values), max_size=4),
)
def test_unsigned_or_wrongly_signed_requests_never_5xx_and_never_store(
    gateway: FastAPI, db_url: str, method: str, path: str, body: bytes, headers: list[tuple[str, str]]
) -> None:
    resp = _send(gateway, method, path, body, headers)
    assert resp.status_code < 500, resp.text
    if path.startswith("/webhooks/jobber") and method == "POST":
        assert resp.status_code in (401, 404, 405, 413, 307), resp.status_code
    assert inbox_rows(db_url) == []


@FUZZ
@given(body=jobberish_bodies, path=st.sampled_from(["/webhooks/jobber", "/webhooks/jobber/webhooks"]))
def test_correctly_signed_random_bodies_are_stored_or_refused_never_5xx(
    gateway: FastAPI, db_url: str, body: bytes, path: str
) -> None:
    before = len(inbox_rows(db_url))

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(path, content=body, headers=signed_headers(body))

    resp = call(gateway, go)
    assert resp.status_code in (200, 400, 413), resp.text
    after = len(inbox_rows(db_url))
    if resp.status_code == 200:
        assert after - before in (0, 1)
    else:
        assert after == before


@FUZZ
@given(
    topic=st.from_regex(r"[A-Z][A-Z_]{0,40}", fullmatch=True),
    account=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200),
    item=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, exclude_categories=("Cs", "Zs", "Cc")),
        min_size=1,
        max_size=120,
    ),
    legacy=st.booleans(),
)
def test_every_well_formed_signed_event_is_stored(
    gateway: FastAPI, db_url: str, topic: str, account: str, item: str, legacy: bool
) -> None:
    body = webhook_body(topic, account_id=account, item_id=item, legacy=legacy)
    if len(body) > MAX_BODY:
        return

    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/webhooks/jobber", content=body, headers=signed_headers(body))

    resp = call(gateway, go)
    assert resp.status_code == 200, resp.text
    assert any(r["item_id"] == item and r["account_id"] == account for r in inbox_rows(db_url))


# -- canaries: secrets, tokens and phone numbers never reach the logs ------------------------------------

CANARY_CLIENT_SECRET = "canary-client-secret-9d1e"  # noqa: S105
CANARY_WEBHOOK_SECRET = "canary-webhook-secret-5b7c"  # noqa: S105
CANARY_ACCESS_TOKEN = "canary-access-token-42aa"  # noqa: S105
CANARY_REFRESH_TOKEN = "canary-refresh-token-77bb"  # noqa: S105
CANARY_METRICS_TOKEN = "canary-metrics-token-31cc"  # noqa: S105
CANARY_PHONE = "+15555550123"
CANARIES = (
    CANARY_CLIENT_SECRET,
    CANARY_WEBHOOK_SECRET,
    CANARY_ACCESS_TOKEN,
    CANARY_REFRESH_TOKEN,
    CANARY_METRICS_TOKEN,
    CANARY_PHONE,
)


def test_canary_secrets_never_appear_in_logs(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from tasks.store import accounts
    from tasks.store.db import get_engine, unit_of_work

    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.ensure_account(session, key="default", jobber_account_id="acc-canary")
        accounts.save_tokens(
            session,
            account_key="default",
            access_token=CANARY_ACCESS_TOKEN,
            refresh_token=CANARY_REFRESH_TOKEN,
            access_expires_at=None,
        )
    app = make_gateway(
        db_url,
        jobber_client_secret=CANARY_CLIENT_SECRET,
        jobber_webhook_secret=f"{CANARY_WEBHOOK_SECRET},{CANARY_CLIENT_SECRET}",
        jobber_api_key=CANARY_ACCESS_TOKEN,
        jobber_refresh_token=CANARY_REFRESH_TOKEN,
        metrics_token=CANARY_METRICS_TOKEN,
        gateway_max_body_bytes=4096,
    )
    good = webhook_body("CLIENT_UPDATE", item_id=CANARY_PHONE, account_id="acc-canary")
    disconnect = webhook_body("APP_DISCONNECT", item_id="acc-canary", account_id="acc-canary", occurred_at="2999-01-01")
    with_phone = json.dumps({"data": {"webHookEvent": {"topic": "CLIENT_UPDATE", "phone": CANARY_PHONE}}}).encode()
    requests: list[tuple[bytes, dict[str, str]]] = [
        (good, {"X-Jobber-Hmac-SHA256": signature(good, CANARY_WEBHOOK_SECRET)}),
        (good, {"X-Jobber-Hmac-SHA256": signature(good, CANARY_CLIENT_SECRET)}),
        (good, {"X-Jobber-Hmac-SHA256": CANARY_CLIENT_SECRET}),  # a secret pasted into the header
        (good, {"X-Jobber-Hmac-SHA256": signature(good, "wrong"), "Authorization": f"Bearer {CANARY_ACCESS_TOKEN}"}),
        (with_phone, {"X-Jobber-Hmac-SHA256": signature(with_phone, CANARY_CLIENT_SECRET)}),
        (CANARY_REFRESH_TOKEN.encode(), {"X-Jobber-Hmac-SHA256": signature(CANARY_REFRESH_TOKEN.encode(), SECRET)}),
        (b"x" * 5000 + CANARY_PHONE.encode(), {"X-Jobber-Hmac-SHA256": CANARY_WEBHOOK_SECRET}),
        (disconnect, {"X-Jobber-Hmac-SHA256": signature(disconnect, CANARY_CLIENT_SECRET)}),
    ]

    async def go(client: httpx.AsyncClient) -> list[int]:
        codes = []
        for body, headers in requests:
            codes.append((await client.post("/webhooks/jobber", content=body, headers=headers)).status_code)
        codes.append((await client.get("/healthz")).status_code)
        codes.append(
            (await client.get("/metrics", headers={"Authorization": f"Bearer {CANARY_METRICS_TOKEN}"})).status_code
        )
        codes.append(
            (await client.get("/metrics", headers={"Authorization": f"Bearer {CANARY_ACCESS_TOKEN}"})).status_code
        )
        return codes

    try:
        with caplog.at_level(logging.DEBUG):
            codes = call(app, go)
    finally:
        close_gateway(app)
    assert codes == [200, 200, 401, 401, 400, 401, 413, 200, 200, 200, 401]
    with unit_of_work(engine) as session:
        assert accounts.read_tokens(session, account_key="default") is None  # the disconnect happened
    assert caplog.records, "the refusals above are logged"
    text = caplog.text + "\n".join(repr(r.__dict__) for r in caplog.records)
    for canary in CANARIES:
        assert canary not in text


def test_canary_tokens_never_appear_in_logged_database_errors(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A database error while storing tokens (here: a second token row for the same account) is logged with
    its traceback, as the gateway's OAuth callback does: the statement appears, the tokens never do."""
    import sqlalchemy as sa

    from tasks.store import accounts
    from tasks.store.db import get_engine, unit_of_work
    from tasks.store.models import JobberToken

    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.save_tokens(
            session, account_key="default", access_token="at-0", refresh_token="rt-0", access_expires_at=None
        )
    log = logging.getLogger("deployments.gateway.oauth")
    error: Exception | None = None
    with caplog.at_level(logging.DEBUG):
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.insert(JobberToken).values(
                        account_key="default",
                        access_token=CANARY_ACCESS_TOKEN,
                        refresh_token=CANARY_REFRESH_TOKEN,
                        generation=1,
                    )
                )
        except sa.exc.IntegrityError as exc:
            error = exc
            log.exception("Could not store the Jobber connection")
            log.error("Could not store the Jobber connection: %s", exc)
    assert error is not None, "the duplicate row must fail"
    assert "jobber_tokens" in caplog.text  # the error is still useful: it names the table
    text = caplog.text + str(error) + repr(error)
    for canary in CANARIES:
        assert canary not in text
