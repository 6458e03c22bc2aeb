"""`POST /slack/commands` through the gateway app: requests signed with Slack's real algorithm are answered
from the synced database within Slack's 3 seconds; anything unsigned, mis-signed, stale or from the future
gets a generic 401; a response_url off hooks.slack.com is refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from tasks.settings import Settings
from tasks.slack.signature import compute_signature
from tasks.store.db import get_engine, unit_of_work
from tasks.store.models import Client, Invoice, Job

SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
RESPONSE_URL = "https://hooks.slack.com/commands/T0001/1234567890/abcDEF123"


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


def make_app(engine: Engine, db_url: str, **settings: Any) -> FastAPI:
    from deployments.gateway.app import create_app

    return create_app(Settings(_env_file=None, database_url=db_url, **settings), engine=engine, relay=False)  # type: ignore[call-arg]


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FastAPI]:
    app = make_app(engine, db_url, slack_signing_secret=SECRET)
    yield app
    writer = getattr(app.state, "inbox_writer", None)
    if writer is not None:
        writer.close()


def send(app: FastAPI, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            return await http.post("/slack/commands", content=body, headers=headers)

    return asyncio.run(go())


def form(text: str, **extra: str) -> bytes:
    fields = {
        "token": "legacy-token",
        "team_id": "T0001",
        "team_domain": "evergreen",
        "channel_id": "C0001",
        "user_id": "U0001",
        "user_name": "mike",
        "command": "/jobber",
        "text": text,
        "response_url": RESPONSE_URL,
        "trigger_id": "1.2.3",
    }
    fields.update(extra)
    return urlencode(fields).encode()


def post(
    client: FastAPI, body: bytes, *, timestamp: int | None = None, secret: str = SECRET, signature: str | None = None
) -> httpx.Response:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or compute_signature(secret, ts, body),
    }
    return send(client, body, headers)


def fill(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        session.add(Client(id="C1", name="John Smith & Sons"))
        session.add(Client(id="C2", name="Diego Hernandez"))
        for n, (status, title, client_id) in enumerate(
            [("late", "Gutter Cleaning", "C1"), ("archived", "Water Heater Installation", "C2")]
        ):
            session.add(
                Job(id=f"J{n}", job_number=1042 + n, title=title, job_status=status, client_id=client_id, total=199.0)
            )
        session.add(
            Invoice(
                id="I1", invoice_number="2002", invoice_status="past_due", client_id="C2", total=405.71, balance=405.71
            )
        )


def test_a_signed_command_is_answered_from_the_database_in_time(client: FastAPI, engine: Engine) -> None:
    fill(engine)
    started = time.monotonic()
    response = post(client, form("jobs"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed < 3.0
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    texts = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]
    assert any("#1042 Gutter Cleaning* for John Smith &amp; Sons" in t for t in texts)
    assert any("#1043 Water Heater Installation* for Diego Hernandez" in t for t in texts)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clients smith", "John Smith &amp; Sons"),
        ("invoices overdue", "Invoice #2002"),
        ("jobs late", "Gutter Cleaning"),
        ("help", "/jobber invoices [status]"),
        ("bogus", "Unknown command"),
    ],
)
def test_each_command_answers(client: FastAPI, engine: Engine, text: str, expected: str) -> None:
    fill(engine)
    response = post(client, form(text))
    assert response.status_code == 200
    assert expected in json.dumps(response.json(), ensure_ascii=False)


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "changed_body", "stale", "future", "no_headers", "garbage_signature"],
)
def test_unverified_requests_get_a_generic_401(client: FastAPI, engine: Engine, tamper: str) -> None:
    fill(engine)
    body = form("clients")
    now = int(time.time())
    if tamper == "wrong_secret":
        response = post(client, body, secret="not-the-secret")
    elif tamper == "changed_body":
        ts = str(now)
        response = post(client, form("jobs"), signature=compute_signature(SECRET, ts, body), timestamp=now)
    elif tamper == "stale":
        response = post(client, body, timestamp=now - 6 * 60)  # correctly signed, but a replay
    elif tamper == "future":
        response = post(client, body, timestamp=now + 6 * 60)
    elif tamper == "no_headers":
        response = send(client, body, {})
    else:
        response = post(client, body, signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert response.json() == {"detail": "unauthorized"}
    assert "Smith" not in response.text
    from deployments.gateway.metrics import render

    assert b'gateway_requests_total{endpoint="/slack/commands",outcome="unauthorized"} 1.0' in render(client)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/commands/T0001/1/abc",
        "http://hooks.slack.com/commands/T0001/1/abc",
        "https://hooks.slack.com.evil.example/commands/T0001/1/abc",
        "https://hooks.slack.com@evil.example/commands/T0001/1/abc",
    ],
)
def test_a_response_url_off_hooks_slack_com_is_refused(client: FastAPI, url: str) -> None:
    response = post(client, form("jobs", response_url=url))
    assert response.status_code == 400 and response.json() == {"error": "invalid response_url"}


def test_a_slow_answer_follows_through_response_url(client: FastAPI, engine: Engine) -> None:
    fill(engine)
    delivered: list[httpx.Request] = []

    def hooks_slack_com(request: httpx.Request) -> httpx.Response:
        delivered.append(request)
        return httpx.Response(200, text="ok")

    client.state.slack_answer_deadline_s = 0.0
    client.state.slack_http = httpx.AsyncClient(transport=httpx.MockTransport(hooks_slack_com))
    response = post(client, form("invoices"))
    assert response.status_code == 200 and response.json()["text"] == "Looking that up…"
    (request,) = delivered
    assert str(request.url) == RESPONSE_URL
    answer = json.loads(request.content)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is True
    assert "Invoice #2002" in json.dumps(answer)


def test_ssl_check_is_acknowledged(client: FastAPI) -> None:
    assert post(client, urlencode({"ssl_check": "1", "token": "x"}).encode()).status_code == 200


def test_an_oversized_body_is_refused(client: FastAPI) -> None:
    response = post(client, form("x" * (300 * 1024)))
    assert response.status_code == 413


def test_without_a_signing_secret_nothing_is_accepted(engine: Engine, db_url: str) -> None:
    unconfigured = make_app(engine, db_url)
    assert post(unconfigured, form("jobs")).status_code == 401


def test_a_database_failure_gets_an_apology_not_a_500(tmp_path: Any) -> None:
    from deployments.gateway.app import create_app
    from tasks.store.db import build_engine

    empty = build_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")  # never migrated: every query fails
    settings = Settings(_env_file=None, slack_signing_secret=SECRET, database_url="sqlite://")  # type: ignore[call-arg]
    app = create_app(settings, engine=empty, relay=False)
    response = post(app, form("jobs"))
    assert response.status_code == 200 and response.json() == {
        "response_type": "ephemeral",
        "text": "Sorry, that lookup failed. Try again in a moment.",
    }
    empty.dispose()
