"""OAuth tokens against the sandbox: rotation, single-flight refresh across threads and processes, reconnects."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import Engine

from tasks.errors import ConfigurationError, JobberOAuthConfigurationError, ReconnectRequired
from tasks.jobber.auth import DatabaseTokenProvider, OAuthClient, token_expiry
from tasks.jobber.client import JobberClient
from tasks.store import accounts
from tasks.store.db import build_engine, unit_of_work

PAST = datetime(2020, 1, 1, tzinfo=UTC)


def test_expiry_comes_from_the_jwt_exp_claim() -> None:
    exp = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    token = jwt.encode({"exp": int(exp.timestamp())}, "k" * 32, algorithm="HS256")
    assert token_expiry(token) == exp
    assert token_expiry("opaque", {"expires_at": "2030-05-01T12:00:00Z"}) == exp
    in_an_hour = token_expiry("opaque", {"expires_in": 3600})
    assert in_an_hour is not None and in_an_hour > datetime.now(UTC) + timedelta(minutes=59)
    assert token_expiry("opaque", {}) is None


@pytest.fixture
def fresh_sandbox() -> Any:
    from sandbox.jobber import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(seed=3, clients=5, jobs=5, invoices=5, quotes=2, users=2)) as server:
        yield server


def _provider(engine: Engine, sandbox: Any) -> DatabaseTokenProvider:
    oauth = OAuthClient(
        token_url=sandbox.url + "/api/oauth/token",
        client_id=sandbox.cfg.client_id,
        client_secret=sandbox.cfg.client_secret,
    )
    return DatabaseTokenProvider(engine=engine, oauth=oauth, account_key="acct")


def _store_expired(engine: Engine, refresh_token: str) -> None:
    with unit_of_work(engine) as session:
        accounts.save_tokens(
            session, account_key="acct", access_token="expired", refresh_token=refresh_token, access_expires_at=PAST
        )


def test_fifty_concurrent_callers_refresh_exactly_once(db_url: str, fresh_sandbox: Any) -> None:
    engine = build_engine(db_url)
    _store_expired(engine, fresh_sandbox.issue_tokens()["refresh_token"])
    provider = _provider(engine, fresh_sandbox)
    barrier = threading.Barrier(50)
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        results.append(provider.access_token())

    threads = [threading.Thread(target=call) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 50 and len(set(results)) == 1
    assert fresh_sandbox.store.stats.token_refreshes == 1
    assert fresh_sandbox.store.stats.refresh_token_reuse == 0
    # The rotated pair was stored before use: a new process would start from it.
    with unit_of_work(engine) as session:
        stored = accounts.read_tokens(session, account_key="acct")
    assert stored is not None and stored.access_token == results[0] and stored.generation == 2
    engine.dispose()


def _refresh_in_child(db_url: str, sandbox_url: str, client_id: str, secret: str, out: Any) -> None:
    engine = build_engine(db_url)
    oauth = OAuthClient(token_url=sandbox_url + "/api/oauth/token", client_id=client_id, client_secret=secret)
    provider = DatabaseTokenProvider(engine=engine, oauth=oauth, account_key="acct")
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(provider.access_token())) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(sorted(set(tokens)))


def test_processes_share_one_refresh_through_the_database_lock(db_url: str, fresh_sandbox: Any) -> None:
    engine = build_engine(db_url)
    _store_expired(engine, fresh_sandbox.issue_tokens()["refresh_token"])
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    cfg = fresh_sandbox.cfg
    procs = [
        ctx.Process(target=_refresh_in_child, args=(db_url, fresh_sandbox.url, cfg.client_id, cfg.client_secret, out))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    seen = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(tokens == seen[0] for tokens in seen) and len(seen[0]) == 1
    assert fresh_sandbox.store.stats.token_refreshes == 1
    assert fresh_sandbox.store.stats.refresh_token_reuse == 0


def test_rejected_refresh_puts_the_account_in_reconnect_needed(db_url: str, fresh_sandbox: Any) -> None:
    engine = build_engine(db_url)
    _store_expired(engine, "not-a-real-refresh-token")
    provider = _provider(engine, fresh_sandbox)
    with pytest.raises(ReconnectRequired, match="Connect the app to Jobber again"):
        provider.access_token()
    with unit_of_work(engine) as session:
        status = accounts.account_status(session, account_key="acct")
        assert status is not None and status[0] == "reconnect_needed"
        assert "refresh token" in (status[1] or "")
        assert accounts.read_tokens(session, account_key="acct") is None, "dead tokens are forgotten"
    # and the next call explains the state instead of hammering Jobber
    with pytest.raises(ReconnectRequired, match="refresh token"):
        provider.access_token()
    engine.dispose()


def test_unauthorized_answer_refreshes_and_the_call_succeeds(db_url: str, fresh_sandbox: Any) -> None:
    engine = build_engine(db_url)
    issued = fresh_sandbox.issue_tokens()
    with unit_of_work(engine) as session:
        # the stored access token looks fresh but Jobber refuses it
        accounts.save_tokens(
            session,
            account_key="acct",
            access_token="revoked-token",
            refresh_token=issued["refresh_token"],
            access_expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    client = JobberClient(
        graphql_url=fresh_sandbox.url + "/api/graphql",
        api_version="2025-04-16",
        tokens=_provider(engine, fresh_sandbox),
    )
    data = client.execute("query { account { id name } }")
    assert data["account"]["name"]
    assert client.stats.unauthorized == 1
    assert fresh_sandbox.store.stats.token_refreshes == 1
    client.close()
    engine.dispose()


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (401, {"error": "invalid_client"}),
        (400, {}),
        (400, {"error": "invalid_request", "error_description": "client_secret is required"}),
    ],
)
def test_a_refused_app_keeps_the_still_valid_refresh_token(
    db_url: str, fresh_sandbox: Any, status: int, answer: dict[str, str]
) -> None:
    """Only invalid_grant means the refresh token is dead: invalid_client or a bare 400 is a configuration
    problem, named as one, and the connection keeps working once the configuration is fixed."""
    engine = build_engine(db_url)
    refresh_token = fresh_sandbox.issue_tokens()["refresh_token"]
    _store_expired(engine, refresh_token)
    refused = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, json=answer)))
    broken = DatabaseTokenProvider(
        engine=engine,
        oauth=OAuthClient(
            token_url=fresh_sandbox.url + "/api/oauth/token", client_id="x", client_secret="y", http=refused
        ),
        account_key="acct",
    )
    with pytest.raises(JobberOAuthConfigurationError, match="JOBBER_CLIENT_SECRET") as info:
        broken.access_token()
    assert isinstance(info.value, ConfigurationError) and "not a dead connection" in str(info.value)
    with unit_of_work(engine) as session:
        status_now = accounts.account_status(session, account_key="acct")
        assert status_now is None or status_now[0] == "connected"
        stored = accounts.read_tokens(session, account_key="acct")
        assert stored is not None and stored.refresh_token == refresh_token, "the refresh token is kept"
    # Configuration fixed: the very same refresh token still works, no reconnect.
    assert _provider(engine, fresh_sandbox).access_token() != "expired"
    assert fresh_sandbox.store.stats.token_refreshes == 1
    engine.dispose()


def test_a_wrong_client_secret_against_the_sandbox_is_a_configuration_error(db_url: str, fresh_sandbox: Any) -> None:
    engine = build_engine(db_url)
    _store_expired(engine, fresh_sandbox.issue_tokens()["refresh_token"])
    wrong = OAuthClient(
        token_url=fresh_sandbox.url + "/api/oauth/token", client_id=fresh_sandbox.cfg.client_id, client_secret="wrong"
    )
    with pytest.raises(JobberOAuthConfigurationError, match="invalid_client"):
        DatabaseTokenProvider(engine=engine, oauth=wrong, account_key="acct").access_token()
    with unit_of_work(engine) as session:
        assert accounts.read_tokens(session, account_key="acct") is not None
    assert _provider(engine, fresh_sandbox).access_token() != "expired"
    engine.dispose()
