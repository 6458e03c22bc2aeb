"""Connecting a Jobber account through the gateway, against the local Jobber sandbox: the connect redirect
(admin only), the callback that stores tokens and account, and every way the callback can go wrong,
including someone else's Jobber account trying to take the installation over."""

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
from deployments.gateway.oauth import COOKIE_NAME, make_state, read_state, verify_state
from sandbox.jobber import SandboxConfig, SandboxServer
from tasks.jobber.connect import authorize_url
from tasks.settings import Settings
from tasks.store.db import get_engine, unit_of_work
from tasks.store.migrate import upgrade_database
from tasks.store.models import Account, JobberToken

CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's well-known value
ADMIN_TOKEN = "oauth-admin-token-for-tests-1c9e"  # noqa: S105 - a test value
ADMIN = ("admin", ADMIN_TOKEN)


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
        "admin_token": SecretStr(ADMIN_TOKEN),
    }
    values.update(extra)
    return values


def start(client: httpx.Client, *, replace: bool = False) -> httpx.Response:
    """The admin opens /auth/jobber/connect (basic auth, as a browser would); the client keeps the cookie."""
    answer = client.get("/auth/jobber/connect", params={"replace": "1"} if replace else None, auth=ADMIN)
    assert answer.status_code == 302, answer.text
    return answer


def state_of(answer: httpx.Response) -> str:
    return parse_qs(urlsplit(answer.headers["location"]).query)["state"][0]


def code_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["code"][0]


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
    state = make_state("s3cret", binding="cookie-1", now=now)
    assert verify_state(state, "s3cret", binding="cookie-1", now=now)
    assert verify_state(state, "s3cret", binding="cookie-1", now=now + 599)
    assert not verify_state(state, "s3cret", binding="cookie-1", now=now + 601)
    assert not verify_state(state, "another-secret", binding="cookie-1", now=now)
    issued, nonce, flags, signature = state.split(".")
    assert not verify_state(f"{int(issued) + 1}.{nonce}.{flags}.{signature}", "s3cret", binding="cookie-1", now=now)
    assert not verify_state(f"{issued}.{nonce}x.{flags}.{signature}", "s3cret", binding="cookie-1", now=now)
    assert not verify_state("", "s3cret", now=now)
    assert not verify_state("forged", "s3cret", now=now)
    assert make_state("s3cret", binding="cookie-1", now=now) != state  # a fresh nonce each time


def test_a_state_is_worthless_without_the_browser_cookie_it_was_bound_to() -> None:
    now = 1_750_000_000.0
    state = make_state("s3cret", binding="the-admins-cookie", now=now)
    assert not verify_state(state, "s3cret", binding="", now=now)  # no cookie
    assert not verify_state(state, "s3cret", binding="someone-elses-cookie", now=now)


def test_the_admins_replace_action_is_bound_into_the_state() -> None:
    now = 1_750_000_000.0
    plain = make_state("s3cret", binding="c", now=now)
    replacing = make_state("s3cret", binding="c", replace=True, now=now)
    assert read_state(plain, "s3cret", binding="c", now=now) == oauth.StateClaims(int(now), replace=False)
    assert read_state(replacing, "s3cret", binding="c", now=now) == oauth.StateClaims(int(now), replace=True)
    issued, nonce, _, signature = plain.split(".")
    assert read_state(f"{issued}.{nonce}.r.{signature}", "s3cret", binding="c", now=now) is None  # flag forged


# -- connect -------------------------------------------------------------------------------------------
def test_connect_redirects_to_jobbers_authorize_url_with_the_apps_params(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        answer = start(client)
        callback = callback_url(client)
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == jobber_sandbox.url + "/api/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == callback
    assert verify_state(query["state"], CLIENT_SECRET, binding=answer.cookies[COOKIE_NAME])
    assert set(query) == {"response_type", "client_id", "redirect_uri", "state"}  # scopes live on the app


@pytest.mark.parametrize(
    ("token", "auth", "status", "says"),
    [
        (ADMIN_TOKEN, None, 401, "ADMIN_TOKEN"),
        (ADMIN_TOKEN, ("admin", ADMIN_TOKEN + "x"), 401, "ADMIN_TOKEN"),
        (None, None, 503, "ADMIN_TOKEN"),
        ("short-token", ("admin", "short-token"), 503, "at least 16"),
    ],
    ids=["anonymous", "wrong-token", "no-admin-token", "short-admin-token"],
)
def test_connect_hands_out_no_state_without_the_admin_credentials(
    jobber_sandbox: SandboxServer, sqlite_url: str, token: str | None, auth: Any, status: int, says: str
) -> None:
    values = sandbox_values(jobber_sandbox, sqlite_url, admin_token=SecretStr(token) if token else None)
    with running_gateway(**values) as client:
        answer = client.get("/auth/jobber/connect", auth=auth)
    assert answer.status_code == status
    assert says in answer.text
    assert "location" not in answer.headers and "state=" not in answer.text
    assert COOKIE_NAME not in answer.cookies
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Basic")  # a browser asks for the admin sign-in


def test_connect_sets_a_short_lived_httponly_cookie_for_the_callback_only(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        answer = start(client)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/auth/jobber" in cookie
    assert "Max-Age=600" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here; https adds it (below)
    https = sandbox_values(jobber_sandbox, sqlite_url, public_url="https://gateway.example.com")
    with running_gateway(**https) as client:
        assert "Secure" in start(client).headers["set-cookie"]


def test_the_redirect_uri_is_the_public_url_not_the_address_served_on(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    values = sandbox_values(jobber_sandbox, sqlite_url, public_url="https://gateway.example.com/")
    with running_gateway(**values) as client:
        location = start(client).headers["location"]
    assert parse_qs(urlsplit(location).query)["redirect_uri"] == ["https://gateway.example.com/auth/jobber/callback"]


def test_connect_and_callback_name_the_missing_client_credentials(sqlite_url: str) -> None:
    admin_token = SecretStr(ADMIN_TOKEN)
    unset = {"jobber_client_id": None, "jobber_client_secret": None}
    with running_gateway(database_url=sqlite_url, admin_token=admin_token, **unset) as client:
        connect = client.get("/auth/jobber/connect", auth=ADMIN)
        callback = client.get("/auth/jobber/callback", params={"code": "abc"})
    for answer in (connect, callback):
        assert answer.status_code == 503
        assert "JOBBER_CLIENT_ID" in answer.text
        assert "JOBBER_CLIENT_SECRET" in answer.text
    placeholders = {"jobber_client_id": "your-client-id", "jobber_client_secret": SecretStr("secret-here")}
    with running_gateway(database_url=sqlite_url, admin_token=admin_token, **placeholders) as client:
        assert client.get("/auth/jobber/connect", auth=ADMIN).status_code == 503


# -- callback ------------------------------------------------------------------------------------------
def test_following_jobbers_redirect_to_the_callback_stores_tokens_and_account(
    jobber_sandbox: SandboxServer, db_url: str
) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, db_url)) as client:
        back = consent(start(client).headers["location"])
        assert back.startswith(callback_url(client) + "?")
        assert set(parse_qs(urlsplit(back).query)) == {"code", "state"}
        answer = client.get(back)  # the admin's browser, with its cookie: no admin credentials needed here

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
        back = consent(start(client).headers["location"], deny="1")
        assert back == callback_url(client)  # Jobber sends no parameters at all
        answer = client.get(back)
        explicit = client.get("/auth/jobber/callback", params={"error": "access_denied"})
    assert answer.status_code == 200
    assert "You did not connect" in answer.text
    assert 'href="/auth/jobber/connect"' in answer.text
    assert explicit.status_code == 200 and "You did not connect" in explicit.text
    assert stored(sqlite_url) == ([], [])


def test_a_callback_without_state_is_refused_and_changes_nothing(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    """The takeover: someone approves the consent page for their own Jobber account and sends the code
    straight to the callback, with no state. Refused before the code is used; the connection stays."""
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url, jobber_account_id="evergreen")) as client:
        back = consent(
            authorize_url(base_url=jobber_sandbox.url, client_id=CLIENT_ID, redirect_uri=callback_url(client))
        )
        assert "state=" not in back
        answer = client.get(back)
        assert answer.status_code == 400
        assert "/auth/jobber/connect" in answer.text  # what the admin does instead (Marketplace installs too)
        assert stored(sqlite_url) == ([], [])
        # The code was not spent: the admin's own flow (state + cookie) can still use it.
        genuine = client.get("/auth/jobber/callback", params={"code": code_of(back), "state": state_of(start(client))})
    assert genuine.status_code == 200, genuine.text
    accounts, tokens = stored(sqlite_url)
    assert [(a.key, a.jobber_account_id) for a in accounts] == [("evergreen", jobber_sandbox.store.account_id)]
    assert [t.account_key for t in tokens] == ["evergreen"]  # the key tasks/jobber/factory.py reads


def test_a_valid_state_is_refused_without_the_browser_that_started_the_flow(
    jobber_sandbox: SandboxServer, sqlite_url: str
) -> None:
    """A state that leaked (a screenshot, a proxy log) cannot carry someone else's code."""
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as admins_browser:
        leaked = state_of(start(admins_browser))
        back = consent(
            authorize_url(base_url=jobber_sandbox.url, client_id=CLIENT_ID, redirect_uri=callback_url(admins_browser))
        )
        with httpx.Client(base_url=str(admins_browser.base_url), timeout=30) as other_browser:
            answer = other_browser.get("/auth/jobber/callback", params={"code": code_of(back), "state": leaked})
            forged_cookie = other_browser.get(
                "/auth/jobber/callback",
                params={"code": code_of(back), "state": leaked},
                headers={"Cookie": f"{COOKIE_NAME}=guessed"},
            )
    assert answer.status_code == 400 and "did not start it" in answer.text
    assert forged_cookie.status_code == 400 and "not valid" in forged_cookie.text
    assert stored(sqlite_url) == ([], [])


@pytest.mark.parametrize(
    "state",
    [
        "1750000000.nonce.n.forged-signature",
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
        genuine = state_of(start(client))  # the browser holds the flow's cookie
        callback = callback_url(client)
        back = consent(authorize_url(base_url=jobber_sandbox.url, client_id=CLIENT_ID, redirect_uri=callback))
        code = code_of(back)
        answer = client.get("/auth/jobber/callback", params={"code": code, "state": state})
        assert answer.status_code == 400
        assert "not valid" in answer.text or "not started from this gateway" in answer.text
        assert 'href="/auth/jobber/connect"' in answer.text
        assert stored(sqlite_url) == ([], [])
        # The code was not spent: the genuine flow still works.
        genuine = state_of(start(client))
        assert client.get("/auth/jobber/callback", params={"code": code, "state": genuine}).status_code == 200


def test_a_code_jobber_refuses_answers_400_with_a_clear_message(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        state = state_of(start(client))
        answer = client.get("/auth/jobber/callback", params={"code": "not-a-real-code", "state": state})
    assert answer.status_code == 400
    assert "did not accept the authorization code" in answer.text
    assert stored(sqlite_url) == ([], [])


def test_a_code_used_twice_is_refused_the_second_time(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    with running_gateway(**sandbox_values(jobber_sandbox, sqlite_url)) as client:
        back = consent(start(client).headers["location"])
        assert client.get(back).status_code == 200
        assert client.get(back).status_code == 400  # the flow's cookie went with the first use
        again = client.get("/auth/jobber/callback", params={"code": code_of(back), "state": state_of(start(client))})
    assert again.status_code == 400
    assert "already used" in again.text


def test_a_wrong_client_secret_names_the_variables(jobber_sandbox: SandboxServer, sqlite_url: str) -> None:
    values = sandbox_values(jobber_sandbox, sqlite_url, jobber_client_secret=SecretStr("wrong-but-real-looking"))
    with running_gateway(**values) as client:
        back = consent(start(client).headers["location"])
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
        "admin_token": SecretStr(ADMIN_TOKEN),
    }
    with running_gateway(**values) as client:
        answer = client.get("/auth/jobber/callback", params={"code": "abc", "state": state_of(start(client))})
    assert answer.status_code == 502
    assert "Could not reach Jobber" in answer.text


# -- one installation, one Jobber account ---------------------------------------------------------------
@pytest.fixture(scope="module")
def other_jobber_account() -> Iterator[SandboxServer]:
    """Another business's Jobber account (the same app installed there)."""
    config = SandboxConfig(
        seed=12,
        clients=2,
        jobs=2,
        invoices=1,
        quotes=1,
        users=1,
        account_id="acc-someone-else",
        account_name="Someone Else's Plumbing",
    )
    with SandboxServer(config) as server:
        yield server


def connect_through(sandbox: SandboxServer, database_url: str, *, replace: bool = False) -> httpx.Response:
    """The admin connects the installation to `sandbox`'s Jobber account through the gateway."""
    with running_gateway(**sandbox_values(sandbox, database_url)) as client:
        return client.get(consent(start(client, replace=replace).headers["location"]))


def connected_account(database_url: str) -> tuple[str | None, str | None]:
    accounts, _ = stored(database_url)
    (account,) = accounts
    return account.jobber_account_id, account.status


def test_another_jobber_account_needs_the_admins_explicit_replace(
    jobber_sandbox: SandboxServer, other_jobber_account: SandboxServer, sqlite_url: str
) -> None:
    assert connect_through(jobber_sandbox, sqlite_url).status_code == 200
    _, tokens = stored(sqlite_url)
    before = tokens[0].access_token

    refused = connect_through(other_jobber_account, sqlite_url)
    assert refused.status_code == 409
    assert "refusing to replace it with Someone Else" in refused.text.replace("&#x27;", "'")
    assert "replace=1" in refused.text  # what the admin does to switch on purpose
    assert connected_account(sqlite_url) == (jobber_sandbox.store.account_id, "connected")
    assert stored(sqlite_url)[1][0].access_token == before

    replaced = connect_through(other_jobber_account, sqlite_url, replace=True)
    assert replaced.status_code == 200 and "Connected to Someone Else" in replaced.text.replace("&#x27;", "'")
    assert connected_account(sqlite_url) == ("acc-someone-else", "connected")
    assert other_jobber_account.store.tokens.verify(stored(sqlite_url)[1][0].access_token or "") is not None


def test_a_disconnected_installation_stays_pinned_to_its_jobber_account(
    jobber_sandbox: SandboxServer, other_jobber_account: SandboxServer, sqlite_url: str
) -> None:
    from tasks.jobber.auth import apply_app_disconnect

    assert connect_through(jobber_sandbox, sqlite_url).status_code == 200
    later = "2999-01-01T00:00:00Z"
    assert apply_app_disconnect(
        get_engine(sqlite_url), jobber_account_id=jobber_sandbox.store.account_id, occurred_at=later
    )
    assert connected_account(sqlite_url) == (jobber_sandbox.store.account_id, "disconnected")

    assert connect_through(other_jobber_account, sqlite_url).status_code == 409
    assert connected_account(sqlite_url) == (jobber_sandbox.store.account_id, "disconnected")
    assert connect_through(jobber_sandbox, sqlite_url).status_code == 200  # the owner reconnects
    assert connected_account(sqlite_url) == (jobber_sandbox.store.account_id, "connected")


def test_tokens_seeded_from_the_environment_are_identified_before_anything_replaces_them(
    jobber_sandbox: SandboxServer, other_jobber_account: SandboxServer, sqlite_url: str
) -> None:
    """JOBBER_REFRESH_TOKEN seeded the store and nothing used it yet: no Jobber account id is recorded.
    The callback asks Jobber whose tokens they are before it decides."""
    from tasks.store import accounts as account_store

    with unit_of_work(get_engine(sqlite_url)) as session:
        account_store.save_tokens(
            session,
            account_key="default",
            access_token=None,
            refresh_token=other_jobber_account.issue_tokens()["refresh_token"],
            access_expires_at=None,
        )
    assert connected_account(sqlite_url) == (None, "connected")
    # The same Jobber account connecting again: identified, then accepted.
    with running_gateway(**sandbox_values(other_jobber_account, sqlite_url)) as client:
        answer = client.get(consent(start(client).headers["location"]))
    assert answer.status_code == 200, answer.text
    assert connected_account(sqlite_url) == ("acc-someone-else", "connected")
    # Anyone else: refused.
    assert connect_through(jobber_sandbox, sqlite_url).status_code == 409
    assert connected_account(sqlite_url) == ("acc-someone-else", "connected")
