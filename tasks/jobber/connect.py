"""Connecting an account: exchange an OAuth code, look the account up, store its tokens.

The gateway's `/auth/jobber/callback` and `jobberflow sandbox connect` both end here.

An installation is pinned to one Jobber account: the id recorded on its account row when it was first
connected, or (tokens seeded from JOBBER_REFRESH_TOKEN) when its tokens were first used. Connecting any
other Jobber account is refused unless the admin explicitly asked to replace the connection
(`replace=True`: the gateway's `/auth/jobber/connect?replace=1`), whatever the state of the current one
(connected, reconnect needed or disconnected). Only a fresh installation, with neither a recorded
account nor tokens, takes whichever account is connected first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from tasks.errors import AccountMismatch, JobberError, JobberResponseError, ReconnectRequired
from tasks.jobber.auth import DatabaseTokenProvider, OAuthClient, StaticTokenProvider, TokenSet
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.settings import get_settings
from tasks.store import accounts
from tasks.store.db import get_engine, unit_of_work
from tasks.store.migrate import require_current_schema
from tasks.store.models import Account


def authorize_url(*, base_url: str, client_id: str, redirect_uri: str, state: str | None = None) -> str:
    """Jobber's consent page for this app (scopes are configured on the app, not sent)."""
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri}
    if state:
        query["state"] = state
    return base_url.rstrip("/") + "/api/oauth/authorize?" + urlencode(query)


def account_identifier(*, graphql_url: str, api_version: str, http: httpx.Client | None = None) -> Callable[[str], str]:
    """`identify(access_token)`: the Jobber account id of a token, from Jobber's `account { id }`."""

    def identify(access_token: str) -> str:
        with JobberClient(
            graphql_url=graphql_url,
            api_version=api_version,
            tokens=StaticTokenProvider(access_token),
            http=http,
            max_retries=2,
        ) as client:
            account = client.execute(load_document("account/get")).get("account")
        if not isinstance(account, dict) or not account.get("id"):
            raise JobberResponseError("Jobber returned no account for the stored token")
        return str(account["id"])

    return identify


def _identify_stored(engine: Any, *, account_key: str, oauth: OAuthClient, graphql_url: str, api_version: str) -> None:
    """Record which Jobber account the stored tokens of `account_key` belong to, when that is not known yet.

    Tokens Jobber no longer accepts are dropped on the way (the account becomes `reconnect_needed`): they
    protect nothing. Other failures (Jobber unreachable) raise, so nothing is replaced blindly.
    """
    with unit_of_work(engine) as session:
        if accounts.pinned_jobber_account(session, account_key=account_key) is not None:
            return
        if not accounts.has_tokens(session, account_key=account_key):
            return
    provider = DatabaseTokenProvider(
        engine=engine,
        oauth=oauth,
        account_key=account_key,
        identify=account_identifier(graphql_url=graphql_url, api_version=api_version),
    )
    try:
        provider.access_token()  # refreshes when needed; records the account id on the way
    except ReconnectRequired:
        return  # the stored tokens are dead (and now deleted): there is no live connection to protect
    with unit_of_work(engine) as session:
        if accounts.pinned_jobber_account(session, account_key=account_key) is None:
            raise JobberError("Could not ask Jobber which account the stored tokens belong to; try again in a moment.")


def store_connection(
    tokens: TokenSet,
    *,
    graphql_url: str,
    api_version: str,
    account_key: str,
    database_url: str | None = None,
    replace: bool = False,
    oauth: OAuthClient | None = None,
) -> dict[str, Any]:
    """Look up `account { id name }` with the new token and store account + tokens; returns the account.

    Refuses (`AccountMismatch`) a Jobber account other than the one this installation is pinned to, unless
    `replace`. With `oauth` (the app's token endpoint), stored tokens whose account is not recorded yet
    (seeded from JOBBER_REFRESH_TOKEN, never used) are identified first; without it they count as
    another account's.
    """
    with JobberClient(
        graphql_url=graphql_url, api_version=api_version, tokens=StaticTokenProvider(tokens.access_token)
    ) as client:
        account = client.execute(load_document("account/get")).get("account")
    if not isinstance(account, dict) or not account.get("id"):
        raise JobberResponseError("Jobber returned no account for the new token")
    new_id, new_name = str(account["id"]), str(account.get("name") or "")
    engine = get_engine(database_url)
    require_current_schema(engine=engine)
    if oauth is not None and not replace:
        _identify_stored(engine, account_key=account_key, oauth=oauth, graphql_url=graphql_url, api_version=api_version)
    with unit_of_work(engine) as session:
        existing = session.get(Account, account_key)
        pinned = existing.jobber_account_id if existing is not None else None
        if not replace and pinned and pinned != new_id:
            # Someone approved the consent page for another Jobber account: do not replace the connection.
            raise AccountMismatch(
                f"This installation is connected to Jobber account "
                f"{(existing.name if existing is not None else None) or pinned}; refusing to replace it with "
                f"{new_name or new_id}. To switch accounts on purpose, an admin opens /auth/jobber/connect?replace=1 "
                "on the gateway; or run a second installation with its own JOBBER_ACCOUNT_ID."
            )
        if not replace and not pinned and accounts.has_tokens(session, account_key=account_key):
            raise AccountMismatch(
                "This installation holds Jobber tokens (from JOBBER_REFRESH_TOKEN) whose account could not be "
                f"identified; refusing to replace them with {new_name or new_id}. To replace them on purpose, an "
                "admin opens /auth/jobber/connect?replace=1 on the gateway."
            )
        accounts.ensure_account(session, key=account_key, jobber_account_id=new_id, name=new_name)
        accounts.save_tokens(
            session,
            account_key=account_key,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            access_expires_at=tokens.expires_at,
        )
    return account


def connect_with_oauth(
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str = "http://127.0.0.1:8700/auth/jobber/callback",
    replace: bool = False,
) -> dict[str, Any]:
    """Walk the authorization-code flow non-interactively (the sandbox approves at once) and store the tokens.

    The caller talks to Jobber (the sandbox) and the database directly, so it acts as the admin; the same
    rule as the gateway's callback applies: another Jobber account than the connected one only with `replace`.
    """
    settings = get_settings()
    with httpx.Client(timeout=30) as http:
        consent = http.get(
            authorize_url(base_url=base_url, client_id=client_id, redirect_uri=redirect_uri, state="cli")
        )
        location = consent.headers.get("location", "")
        code = parse_qs(urlparse(location).query).get("code", [None])[0]
        if consent.status_code not in (301, 302, 303, 307) or not code:
            raise ReconnectRequired(f"The authorization at {base_url} returned no code (HTTP {consent.status_code}).")
        oauth = OAuthClient(
            token_url=base_url.rstrip("/") + "/api/oauth/token",
            client_id=client_id,
            client_secret=client_secret,
            http=http,
        )
        tokens = oauth.exchange_code(code, redirect_uri)
        return store_connection(
            tokens,
            graphql_url=base_url.rstrip("/") + "/api/graphql",
            api_version=settings.jobber_api_version,
            account_key=settings.jobber_account_id or "default",
            replace=replace,
            oauth=oauth,
        )
