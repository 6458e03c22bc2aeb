"""Connecting an account: exchange an OAuth code, look the account up, store its tokens.

The gateway's `/auth/jobber/callback` and `jobberflow sandbox connect` both end here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from tasks.errors import JobberAuthError, JobberResponseError, ReconnectRequired
from tasks.jobber.auth import OAuthClient, StaticTokenProvider, TokenSet
from tasks.jobber.client import JobberClient
from tasks.jobber.documents import load_document
from tasks.settings import get_settings
from tasks.store import accounts
from tasks.store.db import get_engine, unit_of_work
from tasks.store.migrate import upgrade_database
from tasks.store.models import Account


def authorize_url(*, base_url: str, client_id: str, redirect_uri: str, state: str | None = None) -> str:
    """Jobber's consent page for this app (scopes are configured on the app, not sent)."""
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri}
    if state:
        query["state"] = state
    return base_url.rstrip("/") + "/api/oauth/authorize?" + urlencode(query)


def store_connection(
    tokens: TokenSet,
    *,
    graphql_url: str,
    api_version: str,
    account_key: str,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Look up `account { id name }` with the new token and store account + tokens; returns the account."""
    with JobberClient(
        graphql_url=graphql_url, api_version=api_version, tokens=StaticTokenProvider(tokens.access_token)
    ) as client:
        account = client.execute(load_document("account/get")).get("account")
    if not isinstance(account, dict) or not account.get("id"):
        raise JobberResponseError("Jobber returned no account for the new token")
    upgrade_database(database_url)
    with unit_of_work(get_engine(database_url)) as session:
        existing = session.get(Account, account_key)
        if (
            existing is not None
            and existing.status == "connected"
            and existing.jobber_account_id
            and existing.jobber_account_id != str(account["id"])
        ):
            # Someone approved the consent page for another Jobber account: do not replace a live connection.
            raise JobberAuthError(
                f"This installation is connected to Jobber account {existing.name or existing.jobber_account_id}; "
                f"refusing to replace it with {account.get('name') or account['id']}. Disconnect the app first, or "
                "run a second installation with its own JOBBER_ACCOUNT_ID."
            )
        accounts.ensure_account(
            session, key=account_key, jobber_account_id=str(account["id"]), name=str(account.get("name") or "")
        )
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
) -> dict[str, Any]:
    """Walk the authorization-code flow non-interactively (the sandbox approves at once) and store the tokens."""
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
    )
