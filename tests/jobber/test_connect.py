"""Which Jobber account an installation belongs to: recorded when connecting, or on the first use of tokens
seeded from JOBBER_REFRESH_TOKEN; and what that pin protects (the connection, the tokens on APP_DISCONNECT)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from sandbox.jobber import SandboxConfig, SandboxServer
from tasks.errors import AccountMismatch
from tasks.jobber.auth import PIN_RETRY_S, DatabaseTokenProvider, OAuthClient, TokenSet, apply_app_disconnect
from tasks.jobber.connect import store_connection
from tasks.jobber.documents import load_document
from tasks.jobber.factory import build_jobber_client
from tasks.settings import Settings
from tasks.store import accounts
from tasks.store.db import get_engine, unit_of_work

LATER = "2999-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def owners_jobber() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(seed=21, clients=2, jobs=2, invoices=1, quotes=1, users=1)) as server:
        yield server


@pytest.fixture(scope="module")
def someone_elses_jobber() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        seed=22, clients=1, jobs=1, invoices=1, quotes=1, users=1, account_id="acc-other", account_name="Other Co"
    )
    with SandboxServer(config) as server:
        yield server


def env_settings(sandbox: SandboxServer, db_url: str, refresh_token: str) -> Settings:
    """An installation configured the setup guide's way: client id/secret and JOBBER_REFRESH_TOKEN."""
    values: dict[str, Any] = {
        "jobber_base_url": sandbox.url,
        "jobber_client_id": sandbox.cfg.client_id,
        "jobber_client_secret": SecretStr(sandbox.cfg.client_secret),
        "jobber_refresh_token": SecretStr(refresh_token),
        "jobber_account_id": None,
        "database_url": db_url,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def pinned(db_url: str, key: str = "default") -> str | None:
    with unit_of_work(get_engine(db_url)) as session:
        return accounts.pinned_jobber_account(session, account_key=key)


def has_tokens(db_url: str, key: str = "default") -> bool:
    with unit_of_work(get_engine(db_url)) as session:
        return accounts.has_tokens(session, account_key=key)


def test_tokens_seeded_from_the_environment_record_their_jobber_account_on_first_use(
    db_url: str, owners_jobber: SandboxServer
) -> None:
    settings = env_settings(owners_jobber, db_url, owners_jobber.issue_tokens()["refresh_token"])
    with build_jobber_client(settings) as client:
        assert pinned(db_url) is None  # seeded, not used yet
        assert client.execute(load_document("account/get"))["account"]["name"] == "Evergreen Home Services"
    assert pinned(db_url) == owners_jobber.store.account_id


def test_only_the_pinned_accounts_app_disconnect_drops_env_seeded_tokens(
    db_url: str, owners_jobber: SandboxServer
) -> None:
    """Every Jobber account that installs the app sends correctly signed webhooks: another account's
    APP_DISCONNECT must not log this installation out."""
    settings = env_settings(owners_jobber, db_url, owners_jobber.issue_tokens()["refresh_token"])
    engine = get_engine(db_url)
    with build_jobber_client(settings) as client:  # seeds the store from the environment
        assert apply_app_disconnect(engine, jobber_account_id="acc-stranger", occurred_at=LATER) is None
        assert has_tokens(db_url)  # seeded but not identified yet: a stranger's disconnect changes nothing
        client.execute(load_document("account/get"))  # first use: the account is recorded
    assert apply_app_disconnect(engine, jobber_account_id="acc-stranger", occurred_at=LATER) is None
    assert has_tokens(db_url)

    assert apply_app_disconnect(engine, jobber_account_id=owners_jobber.store.account_id, occurred_at=LATER) == (
        "default"
    )
    assert not has_tokens(db_url)
    with unit_of_work(engine) as session:
        assert accounts.account_status(session, account_key="default") == (
            "disconnected",
            f"Jobber sent APP_DISCONNECT at {LATER}",
        )


def test_a_connection_for_another_account_is_refused_once_env_tokens_are_identified(
    db_url: str, owners_jobber: SandboxServer, someone_elses_jobber: SandboxServer
) -> None:
    settings = env_settings(owners_jobber, db_url, owners_jobber.issue_tokens()["refresh_token"])
    with build_jobber_client(settings) as client:
        client.execute(load_document("account/get"))
    strangers = someone_elses_jobber.issue_tokens()
    with pytest.raises(AccountMismatch, match="refusing to replace it with Other Co"):
        store_connection(
            TokenSet(strangers["access_token"], strangers["refresh_token"], None),
            graphql_url=someone_elses_jobber.url + "/api/graphql",
            api_version=settings.jobber_api_version,
            account_key="default",
            database_url=db_url,
        )
    assert pinned(db_url) == owners_jobber.store.account_id and has_tokens(db_url)


def test_unidentified_tokens_are_only_replaced_with_the_admins_replace_action(
    db_url: str, someone_elses_jobber: SandboxServer
) -> None:
    with unit_of_work(get_engine(db_url)) as session:
        accounts.save_tokens(
            session, account_key="default", access_token=None, refresh_token="rt-from-env", access_expires_at=None
        )
    strangers = someone_elses_jobber.issue_tokens()
    tokens = TokenSet(strangers["access_token"], strangers["refresh_token"], None)
    where = {
        "graphql_url": someone_elses_jobber.url + "/api/graphql",
        "api_version": "2025-04-16",
        "account_key": "default",
        "database_url": db_url,
    }
    with pytest.raises(AccountMismatch, match="could not be identified"):
        store_connection(tokens, **where)  # no token endpoint to ask with: they count as someone else's
    assert pinned(db_url) is None
    assert store_connection(tokens, replace=True, **where)["id"] == "acc-other"
    assert pinned(db_url) == "acc-other"


def test_a_failed_identification_never_fails_the_callers_request_and_is_retried_later(
    db_url: str, owners_jobber: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.save_tokens(
            session,
            account_key="default",
            access_token=owners_jobber.issue_tokens()["access_token"],
            refresh_token=None,
            access_expires_at=None,
        )
    calls: list[str] = []

    def flaky(token: str) -> str:
        calls.append(token)
        if len(calls) == 1:
            raise ConnectionError("Jobber is down")
        return "acc-identified"

    oauth = OAuthClient(token_url=owners_jobber.url + "/api/oauth/token", client_id="x", client_secret="y")
    provider = DatabaseTokenProvider(engine=engine, oauth=oauth, identify=flaky)
    clock = [1000.0]
    monkeypatch.setattr("tasks.jobber.auth.time.monotonic", lambda: clock[0])
    token = provider.access_token()
    assert token and pinned(db_url) is None and len(calls) == 1
    assert provider.access_token() == token and len(calls) == 1  # not on every call
    clock[0] += PIN_RETRY_S + 1
    assert provider.access_token() == token
    assert pinned(db_url) == "acc-identified" and len(calls) == 2
    clock[0] += PIN_RETRY_S + 1
    provider.access_token()
    assert len(calls) == 2  # recorded: never asked again
