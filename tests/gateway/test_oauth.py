"""Connecting a Jobber account through the gateway, against the local Jobber sandbox: the connect redirect,
the callback that stores tokens and account, and every way the callback can go wrong."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from deployments.gateway import admin, oauth
from deployments.gateway.oauth import make_state, verify_state
from deployments.sandbox import SandboxConfig, SandboxServer
from tasks.jobber.connect import authorize_url
from tasks.settings import Settings
from tasks.store.db import get_engine, unit_of_work
from tasks.store.migrate import upgrade_database
from tasks.store.models import Account, JobberToken

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's well-known value


@pytest.fixture(scope="module")
def jobber_sandbox() -> Iterator[SandboxServer]:
    """A sandbox of its own: connecting fires APP_CONNECT and issues tokens, which the shared one should not see."""
    with SandboxServer(SandboxConfig(seed=11, clients=3, jobs=3, invoices=2, quotes=1, users=1)) as server:
        yield server


def make_settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def gateway(settings: Settings) -> FastAPI:
    """The gateway's OAuth and admin routers on an app shaped like create_app's (state.settings, state.engine)."""
    app = FastAPI()
    app.state.settings = settings
    app.state.engine = get_engine(settings.resolved_database_url)
    app.include_router(oauth.router)
    app.include_router(admin.router)
    return app


@contextmanager
def serve(build: Callable[[str], Any]) -> Iterator[str]:
    """Serve `build(base_url)` (an ASGI app) with uvicorn on 127.0.0.1 at a free port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(build(base_url), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="test-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test gateway did not start"
        time.sleep(0.01)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def running_gateway(**settings_values: Any) -> Iterator[httpx.Client]:
    """An HTTP client for a live gateway whose PUBLIC_URL is its own address (unless given)."""

    def build(base_url: str) -> FastAPI:
        return gateway(make_settings(**{"public_url": base_url, **settings_values}))

    with serve(build) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


def callback_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/") + "/auth/jobber/callback"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade_database(url)
    return url


def sandbox_values(sandbox: SandboxServer, database_url: str, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "jobber_base_url": sandbox.url,
        "jobber_client_id": CLIENT_ID,
        "jobber_client_secret": SecretStr(CLIENT_SECRET),
        "jobber_account_id": None,
        "database_url": database_url,
    }
    values.update(extra)
    return values


def consent(url: str, **extra: str) -> str:
    """Visit Jobber's (the sandbox's) consent page; return where it sends the browser back to."""
    if extra:
        url += "&" + "&".join(f"{k}={v}" for k, v in extra.items())
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def stored(database_url: str) -> tuple[list[Account], list[JobberToken]]:
    with unit_of_work(get_engine(database_url)) as session:
        return list(session.scalars(select(Account))), list(session.scalars(select(JobberToken)))


# -- the signed state ----------------------------------------------------------------------------------
def test_state_round_trips_and_expires_after_ten_minutes() -> None:
    now = 1_750_000_000.0
    state = make_state("s3cret", now=now)
    assert verify_state(state, "s3cret", now=now)
    assert verify_state(state, "s3cret", now=now + 599)
    assert not verify_state(state, "s3cret", now=now + 601)
    assert not verify_state(state, "another-secret", now=now)
    issued, nonce, signature = state.split(".")
    assert not verify_state(f"{int(issued) + 1}.{nonce}.{signature}", "s3cret", now=now)
    assert not verify_state(f"{issued}.{nonce}x.{signature}", "s3cret", now=now)
    assert not verify_state("", "s3cret", now=now)
    assert not verify_state("forged", "s3cret", now=now)
    assert make_state("s3cret", now=now) != state  # a fresh nonce each time


# -- connect -------------------------------------------------------------------------------------------
def test_connect_redirects_to_jobbers_authorize_url_with_the_apps_params(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        answer = client.get("/auth/jobber/connect")
        callback = callback_url(client)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == jobber_sandbox.url + "/api/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == callback
    assert verify_state(query["state"], CLIENT_SECRET)
    assert set(query) == {"response_type", "client_id", "redirect_uri", "state"}  # scopes live on the app


def test_the_redirect_uri_is_the_public_url_not_the_address_served_on(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    values = sandbox_values(jobber_sandbox, sqlite_url, public_url="https://gateway.example.com/")
    with running_gateway(**values) as client:
        location = client.get("/auth/jobber/connect").headers["location"]
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == ["https://gateway.example.com/auth/jobber/callback"]


def test_connect_and_callback_name_the_missing_client_credentials(sqlite_url: str) -> None:
    with running_gateway(database_url=sqlite_url, jobber_client_id=None, jobber_client_secret=None) as client:
        connect = client.get("/auth/jobber/connect")
        callback = client.get("/auth/jobber/callback", params={"code": "abc"})
    for answer in (connect, callback):
        assert answer.status_code == 503
        assert "JOBBER_CLIENT_ID" in answer.text
        assert "JOBBER_CLIENT_SECRET" in answer.text
    placeholders = {"jobber_client_id": "your-client-id", "jobber_client_secret": SecretStr("secret-here")}
    with running_gateway(database_url=sqlite_url, **placeholders) as client:
        assert client.get("/auth/jobber/connect").status_code == 503


# -- callback ------------------------------------------------------------------------------------------
def test_following_jobbers_redirect_to_the_callback_stores_tokens_and_account(
    jobber_sandbox: SandboxServer, db_url: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, db_url)) as client:
        start = client.get("/auth/jobber/connect")
        back = consent(start.headers["location"])
        assert back.startswith(callback_url(client) + "?")
        assert set(parse_qs(urlsplit(back).query)) == {"code", "state"}
        answer = client.get(back)

    assert answer.status_code == 200
    assert "Connected to Evergreen Home Services" in answer.text
    assert 'href="/admin/jobber"' in answer.text
    accounts, tokens = stored(db_url)
    assert [(a.key, a.jobber_account_id, a.name, a.status) for a in accounts] == [
        ("default", jobber_sandbox.store.account_id, "Evergreen Home Services", "connected")
    ]
    assert len(tokens) == 1 and tokens[0].account_key == "default"
    assert tokens[0].refresh_token and tokens[0].access_expires_at is not None
    assert jobber_sandbox.store.tokens.verify(tokens[0].access_token or "") is not None  # Jobber accepts it


def test_a_denied_consent_shows_a_friendly_page_with_a_retry_link(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        start = client.get("/auth/jobber/connect")
        back = consent(start.headers["location"], deny="1")
        assert back == callback_url(client)  # Jobber sends no parameters at all
        answer = client.get(back)
        explicit = client.get("/auth/jobber/callback", params={"error": "access_denied"})
    assert answer.status_code == 200
    assert "You did not connect" in answer.text
    assert 'href="/auth/jobber/connect"' in answer.text
    assert explicit.status_code == 200 and "You did not connect" in explicit.text
    assert stored(sqlite_url) == ([], [])


def test_a_marketplace_install_without_state_is_accepted(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url, jobber_account_id="evergreen")) as client:
        back = consent(
            authorize_url(base_url=jobber_sandbox.url, client_id=CLIENT_ID, redirect_uri=callback_url(client))
        )
        assert "state=" not in back
        answer = client.get(back)
    assert answer.status_code == 200, answer.text
    assert "Connected to Evergreen Home Services" in answer.text
    accounts, tokens = stored(sqlite_url)
    assert [(a.key, a.jobber_account_id) for a in accounts] == [("evergreen", jobber_sandbox.store.account_id)]
    assert [t.account_key for t in tokens] == ["evergreen"]  # the key tasks/jobber/factory.py reads


@pytest.mark.parametrize(
    "state",
    [
        "1750000000.nonce.forged-signature",
        make_state("not-our-client-secret"),
        make_state(CLIENT_SECRET, now=time.time() - 11 * 60),
        "",
    ],
    ids=["forged", "other-secret", "expired", "empty"],
)
def test_a_present_but_invalid_state_is_refused_before_the_code_is_used(
    jobber_sandbox: SandboxServer, sqlite_url: str, state: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        callback = callback_url(client)
        back = consent(authorize_url(base_url=jobber_sandbox.url, client_id=CLIENT_ID, redirect_uri=callback))
        code = parse_qs(urlsplit(back).query)["code"][0]
        answer = client.get("/auth/jobber/callback", params={"code": code, "state": state})
        assert answer.status_code == 400
        assert "not valid" in answer.text
        assert 'href="/auth/jobber/connect"' in answer.text
        assert stored(sqlite_url) == ([], [])
        # The code was not spent: the genuine callback (no state, like a marketplace install) still works.
        assert client.get("/auth/jobber/callback", params={"code": code}).status_code == 200


def test_a_code_jobber_refuses_answers_400_with_a_clear_message(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        state = parse_qs(urlsplit(client.get("/auth/jobber/connect").headers["location"]).query)["state"][0]
        answer = client.get("/auth/jobber/callback", params={"code": "not-a-real-code", "state": state})
    assert answer.status_code == 400
    assert "did not accept the authorization code" in answer.text
    assert stored(sqlite_url) == ([], [])


def test_a_code_used_twice_is_refused_the_second_time(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        back = consent(client.get("/auth/jobber/connect").headers["location"])
        assert client.get(back).status_code == 200
        again = client.get(back)
    assert again.status_code == 400
    assert "already used" in again.text


def test_a_wrong_client_secret_names_the_variables(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    values = sandbox_values(jobber_sandbox, sqlite_url, jobber_client_secret=SecretStr("wrong-but-real-looking"))
    with running_gateway(**values) as client:
        back = consent(
            authorize_url(base_url=jobber_sandbox.url, client_id=CLIENT_ID, redirect_uri=callback_url(client))
        )
        answer = client.get(back)
    assert answer.status_code == 400
    assert "JOBBER_CLIENT_SECRET" in answer.text


def test_an_unreachable_jobber_answers_502(sqlite_url: str) -> None:
    values = {
        "jobber_base_url": "http://127.0.0.1:9",  # the discard port: nothing listens
        "jobber_client_id": CLIENT_ID,
        "jobber_client_secret": SecretStr(CLIENT_SECRET),
        "jobber_timeout_s": 2.0,
        "database_url": sqlite_url,
    }
    with running_gateway(**values) as client:
        answer = client.get("/auth/jobber/callback", params={"code": "abc"})
    assert answer.status_code == 502
    assert "Could not reach Jobber" in answer.text
