"""Jobber webhooks: the signature, parsing, and the endpoint's store-then-acknowledge contract."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tasks.jobber.webhooks import JobberWebhook, dedupe_key, parse_event, sign
from tests.gateway.test_webhooks_support import (
    SECRET,
    call,
    close_gateway,
    inbox_rows,
    make_gateway,
    post,
    signature,
    signed_headers,
    webhook_body,
)

# -- the signature --------------------------------------------------------------------------------------


def test_sign_matches_the_published_hmac_sha256_vector() -> None:
    # RFC 4231 test case 2: HMAC-SHA256(key="Jefe", "what do ya want for nothing?")
    digest = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    expected = base64.b64encode(digest).decode()
    assert sign(b"what do ya want for nothing?", "Jefe") == expected == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="


def test_sign_is_base64_of_hmac_over_the_raw_body() -> None:
    body = webhook_body()
    assert sign(body, SECRET) == signature(body)
    # whitespace in the raw body matters: the signature is over bytes, not over parsed JSON
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    assert sign(reformatted, SECRET) != sign(body, SECRET)
    assert sign(body, SECRET).endswith("=")  # standard, padded base64


def test_parse_event_reads_jobbers_shape_and_the_legacy_key() -> None:
    for legacy in (False, True):
        event = parse_event(webhook_body("JOB_CLOSED", item_id="item-1", account_id="acc-1", legacy=legacy))
        assert event == JobberWebhook(
            topic="JOB_CLOSED",
            app_id="2a4a1a6e-bb7e-4c7a-8d0a-1f0f1d9b8e01",
            account_id="acc-1",
            item_id="item-1",
            occurred_at="2025-01-24T15:30:00-06:00",
        )
    assert parse_event(webhook_body(legacy=True)).dedupe_key == parse_event(webhook_body()).dedupe_key


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"x"',
        b"{}",
        b'{"data": null}',
        b'{"data": {"webHookEvent": []}}',
        b'{"data": {"webHookEvent": {"topic": "JOB_CLOSED"}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"a","itemId":"i"}}}',
        b'{"data":{"webHookEvent":{"topic":5,"accountId":"a","itemId":"i","occurredAt":"t"}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB CLOSED","accountId":"a","itemId":"i","occurredAt":"t"}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"","itemId":"i","occurredAt":"t"}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"a\\u0000","itemId":"i","occurredAt":"t"}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"a","itemId":"\\ud800","occurredAt":"t"}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"a","itemId":"i","occurredAt":null}}}',
        b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"a","itemId":"i","occurredAt":"t","appId":1}}}',
        (
            '{"data":{"webHookEvent":{"topic":"JOB_CLOSED","accountId":"a","itemId":"'
            + "i" * 201
            + '","occurredAt":"t"}}}'
        ).encode(),
        b"[" * 100_000,
    ],
)
def test_parse_event_refuses_malformed_shapes_with_a_clear_reason(body: bytes) -> None:
    with pytest.raises(ValueError) as info:
        parse_event(body)
    assert str(info.value)
    assert "secret" not in str(info.value)


def test_dedupe_key_is_sha256_hex_of_the_four_fields() -> None:
    key = dedupe_key("acc", "JOB_CLOSED", "item", "2025-01-24T15:30:00-06:00")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == dedupe_key("acc", "JOB_CLOSED", "item", "2025-01-24T15:30:00-06:00")
    others = {
        dedupe_key("acc2", "JOB_CLOSED", "item", "2025-01-24T15:30:00-06:00"),
        dedupe_key("acc", "JOB_UPDATE", "item", "2025-01-24T15:30:00-06:00"),
        dedupe_key("acc", "JOB_CLOSED", "item2", "2025-01-24T15:30:00-06:00"),
        dedupe_key("acc", "JOB_CLOSED", "item", "2025-01-24T15:30:01-06:00"),
        dedupe_key("accJOB_CLOSED", "", "item", "2025-01-24T15:30:00-06:00"),
    }
    assert key not in others and len(others) == 5


# -- the endpoint (every test on SQLite and on PostgreSQL) ----------------------------------------------


@pytest.fixture
def gateway(db_url: str) -> Iterator[FastAPI]:
    app = make_gateway(db_url)
    yield app
    close_gateway(app)


def test_signed_webhook_is_stored_then_acknowledged(gateway: FastAPI, db_url: str) -> None:
    body = webhook_body("JOB_CLOSED", item_id="job-1", account_id="acc-1")
    before = datetime.now(UTC)
    for path in ("/webhooks/jobber", "/webhooks/jobber/webhooks"):
        resp = post(gateway, body, signed_headers(body), path=path)
        assert resp.status_code == 200
    rows = inbox_rows(db_url)  # read through another connection: the row was committed before the 200
    assert len(rows) == 1
    row = rows[0]
    assert (row["topic"], row["item_id"], row["account_id"]) == ("JOB_CLOSED", "job-1", "acc-1")
    assert row["occurred_at"] == "2025-01-24T15:30:00-06:00"
    assert row["body"] == body.decode()
    assert row["dedupe_key"] == dedupe_key("acc-1", "JOB_CLOSED", "job-1", "2025-01-24T15:30:00-06:00")
    assert row["relayed_at"] is None and row["relay_attempts"] == 0
    received = row["received_at"] if row["received_at"].tzinfo else row["received_at"].replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= received <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize("copies", [1, 2, 3, 4, 5])
def test_duplicates_sequential_and_concurrent_store_exactly_one(gateway: FastAPI, db_url: str, copies: int) -> None:
    sequential = webhook_body("VISIT_COMPLETE", item_id=f"visit-seq-{copies}")
    concurrent = webhook_body("VISIT_COMPLETE", item_id=f"visit-par-{copies}")

    async def go(client: httpx.AsyncClient) -> list[httpx.Response]:
        answers = [await client.post("/webhooks/jobber", content=sequential, headers=signed_headers(sequential))]
        for _ in range(copies - 1):
            answers.append(
                await client.post("/webhooks/jobber", content=sequential, headers=signed_headers(sequential))
            )
        answers += await asyncio.gather(
            *(
                client.post("/webhooks/jobber", content=concurrent, headers=signed_headers(concurrent))
                for _ in range(copies)
            )
        )
        return answers

    answers = call(gateway, go)
    assert [a.status_code for a in answers] == [200] * (2 * copies)
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("stored") == 2 and statuses.count("duplicate") == 2 * copies - 2
    rows = inbox_rows(db_url)
    assert sorted(r["item_id"] for r in rows) == sorted([f"visit-seq-{copies}", f"visit-par-{copies}"])


def test_many_concurrent_webhooks_are_group_committed(gateway: FastAPI, db_url: str) -> None:
    bodies = [webhook_body("CLIENT_UPDATE", item_id=f"client-{i}") for i in range(200)]

    async def go(client: httpx.AsyncClient) -> list[httpx.Response]:
        return list(
            await asyncio.gather(
                *(client.post("/webhooks/jobber", content=b, headers=signed_headers(b)) for b in bodies)
            )
        )

    answers = call(gateway, go)
    assert all(a.status_code == 200 and a.json()["status"] == "stored" for a in answers)
    assert len(inbox_rows(db_url)) == 200
    writer = gateway.state.inbox_writer
    assert writer.stats.batches < 200  # several requests shared a commit


@pytest.mark.parametrize(
    ("case", "status"),
    [("tampered", 401), ("unsigned", 401), ("wrong_secret", 401), ("garbage_header", 401), ("malformed", 400)],
)
def test_bad_requests_are_refused_and_nothing_is_stored(
    gateway: FastAPI, db_url: str, case: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    body = webhook_body()
    headers = signed_headers(body)
    if case == "tampered":
        body = body.replace(b"JOB_CLOSED", b"JOB_UPDATE")
    elif case == "unsigned":
        headers.pop("X-Jobber-Hmac-SHA256")
    elif case == "wrong_secret":
        headers = signed_headers(body, "another-secret")
    elif case == "garbage_header":
        headers["X-Jobber-Hmac-SHA256"] = "%%%% not base64 %%%%"
    elif case == "malformed":
        body = b'{"data":{"webHookEvent":{"topic":"JOB_CLOSED"}}}'
        headers = signed_headers(body)
    with caplog.at_level("INFO"):
        resp = post(gateway, body, headers)
    assert resp.status_code == status
    assert inbox_rows(db_url) == []
    if status == 401:
        assert resp.json() == {"detail": "unauthorized"}  # the gateway's one refusal: no hint which check failed
        assert any("refused" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


def test_oversized_bodies_are_refused_before_being_read_whole(db_url: str) -> None:
    app = make_gateway(db_url, gateway_max_body_bytes=1024)
    try:
        big = webhook_body(item_id="x" * 150) + b" " * 2000
        # 1. declared by Content-Length
        assert post(app, big, signed_headers(big)).status_code == 413

        # 2. streamed without Content-Length: counted while reading, never read whole
        pulled: list[int] = []

        async def chunks() -> object:
            for i in range(1000):
                pulled.append(i)
                yield b" " * 512

        async def go(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post("/webhooks/jobber", content=chunks(), headers=signed_headers(b"x"))

        resp = call(app, go)
        assert resp.status_code == 413
        assert inbox_rows(db_url) == []
        # a body just under the limit is fine
        ok = webhook_body()
        assert len(ok) < 1024 and post(app, ok, signed_headers(ok)).status_code == 200
    finally:
        close_gateway(app)


def test_streamed_body_stops_being_read_at_the_cap(db_url: str) -> None:
    """The cap is enforced while streaming: the app stops pulling chunks once past the limit."""
    app = make_gateway(db_url, gateway_max_body_bytes=4096)
    sent: list[int] = []

    async def receive_chunks() -> list[dict[str, object]]:
        messages: list[dict[str, object]] = []
        for i in range(100):
            messages.append({"type": "http.request", "body": b" " * 1024, "more_body": i < 99})
        return messages

    async def run() -> int:
        messages = await receive_chunks()
        status: list[int] = []

        async def receive() -> dict[str, object]:
            sent.append(1)
            return messages[len(sent) - 1]

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))  # type: ignore[call-overload]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/webhooks/jobber",
            "raw_path": b"/webhooks/jobber",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"x-jobber-hmac-sha256", b"AAAA")],
            "client": ("127.0.0.1", 1234),
            "server": ("gateway.test", 80),
            "state": {},
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        return status[0]

    try:
        assert asyncio.run(run()) == 413
        assert len(sent) <= 5  # 4 KiB cap / 1 KiB chunks: stopped right after passing the cap
        assert inbox_rows(db_url) == []
    finally:
        close_gateway(app)


def test_legacy_occured_at_is_stored(gateway: FastAPI, db_url: str) -> None:
    body = webhook_body("INVOICE_CREATE", item_id="inv-1", legacy=True)
    assert post(gateway, body, signed_headers(body)).status_code == 200
    modern = webhook_body("INVOICE_CREATE", item_id="inv-1")
    assert post(gateway, modern, signed_headers(modern)).json()["status"] == "duplicate"
    rows = inbox_rows(db_url)
    assert [(r["topic"], r["occurred_at"]) for r in rows] == [("INVOICE_CREATE", "2025-01-24T15:30:00-06:00")]


def test_a_topic_we_do_not_handle_is_still_stored_and_acknowledged(gateway: FastAPI, db_url: str) -> None:
    body = webhook_body("MARKETING_ITEM_UPDATE", item_id="m-1")
    assert post(gateway, body, signed_headers(body)).status_code == 200
    body2 = webhook_body("SOME_FUTURE_TOPIC", item_id="f-1")
    assert post(gateway, body2, signed_headers(body2)).status_code == 200
    assert [r["topic"] for r in inbox_rows(db_url)] == ["MARKETING_ITEM_UPDATE", "SOME_FUTURE_TOPIC"]


def test_rotation_accepts_the_old_and_the_new_secret(db_url: str) -> None:
    app = make_gateway(db_url, jobber_webhook_secret=" new-secret , old-secret ")
    try:
        one = webhook_body(item_id="rot-1")
        two = webhook_body(item_id="rot-2")
        assert post(app, one, signed_headers(one, "new-secret")).status_code == 200
        assert post(app, two, signed_headers(two, "old-secret")).status_code == 200
        three = webhook_body(item_id="rot-3")
        # JOBBER_WEBHOOK_SECRET replaces the client secret when it is set
        assert post(app, three, signed_headers(three, SECRET)).status_code == 401
        assert [r["item_id"] for r in inbox_rows(db_url)] == ["rot-1", "rot-2"]
    finally:
        close_gateway(app)


def test_without_any_secret_everything_is_refused(db_url: str) -> None:
    app = make_gateway(db_url, jobber_client_secret=None)
    try:
        body = webhook_body()
        assert post(app, body, signed_headers(body)).status_code == 401
        assert inbox_rows(db_url) == []
    finally:
        close_gateway(app)


def test_app_disconnect_marks_the_account_disconnected_and_deletes_its_tokens(gateway: FastAPI, db_url: str) -> None:
    from tasks.store import accounts
    from tasks.store.db import get_engine, unit_of_work

    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.ensure_account(session, key="evergreen", jobber_account_id="acc-evergreen")
        accounts.save_tokens(
            session, account_key="evergreen", access_token="at-1", refresh_token="rt-1", access_expires_at=None
        )
        accounts.save_tokens(
            session, account_key="default", access_token="at-d", refresh_token="rt-d", access_expires_at=None
        )
    when = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    body = webhook_body("APP_DISCONNECT", item_id="acc-evergreen", account_id="acc-evergreen", occurred_at=when)
    assert post(gateway, body, signed_headers(body)).status_code == 200
    with unit_of_work(engine) as session:
        status = accounts.account_status(session, account_key="evergreen")
        assert status is not None and status[0] == "disconnected"
        assert accounts.read_tokens(session, account_key="evergreen") is None
        assert accounts.read_tokens(session, account_key="default") is not None  # another account: untouched
    assert [r["topic"] for r in inbox_rows(db_url)] == ["APP_DISCONNECT"]

    # Another Jobber account's disconnect (correctly signed: every account that installed the app signs with
    # the same secret) is stored, but never logs out an installation it is not pinned to, not even the
    # single-account "default" whose Jobber account is not recorded yet (tokens from JOBBER_REFRESH_TOKEN).
    body = webhook_body("APP_DISCONNECT", item_id="acc-x", account_id="acc-unknown", occurred_at=when)
    assert post(gateway, body, signed_headers(body)).status_code == 200
    with unit_of_work(engine) as session:
        assert accounts.read_tokens(session, account_key="default") is not None
        assert accounts.account_status(session, account_key="default") == ("connected", None)
    assert [r["topic"] for r in inbox_rows(db_url)] == ["APP_DISCONNECT", "APP_DISCONNECT"]


def test_an_old_app_disconnect_does_not_undo_a_later_reconnect(gateway: FastAPI, db_url: str) -> None:
    from tasks.store import accounts
    from tasks.store.db import get_engine, unit_of_work

    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.ensure_account(session, key="default", jobber_account_id="acc-1")
        accounts.save_tokens(
            session, account_key="default", access_token="at", refresh_token="rt", access_expires_at=None
        )
    old = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = webhook_body("APP_DISCONNECT", item_id="acc-1", account_id="acc-1", occurred_at=old)
    assert post(gateway, body, signed_headers(body)).status_code == 200
    with unit_of_work(engine) as session:
        assert accounts.read_tokens(session, account_key="default") is not None


def test_an_unavailable_inbox_answers_503_so_jobber_retries(tmp_path: object) -> None:
    """No table to write to: the request is not acknowledged (Jobber will deliver it again)."""
    from pathlib import Path

    from deployments.gateway.app import create_app
    from tasks.store.db import build_engine
    from tests.gateway.test_webhooks_support import make_settings

    url = f"sqlite:///{Path(str(tmp_path)) / 'empty.db'}"
    engine = build_engine(url)
    app = create_app(make_settings(url), engine=engine, relay=False)
    try:
        body = webhook_body()
        resp = post(app, body, signed_headers(body))
        assert resp.status_code == 503
    finally:
        close_gateway(app)
        engine.dispose()
