"""Jobber OAuth 2.0: code exchange, refresh with rotation, and where access tokens come from.

Jobber rotates refresh tokens: every refresh returns a new refresh token and the old one dies at once.
So `DatabaseTokenProvider` refreshes under a lock (a thread lock in the process, a row/database lock
across processes), re-reads the stored tokens after taking the lock (another process may already have
refreshed), and commits the new pair before anyone uses the new access token. A refresh answered
`invalid_grant` (the token is dead) puts the account in `reconnect_needed` with a message a person can act
on; any other refusal (`invalid_client`, a bare 400) is a configuration problem
(`JobberOAuthConfigurationError`) and keeps the stored tokens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import jwt
from sqlalchemy import Engine

from tasks.errors import (
    JobberAuthError,
    JobberOAuthConfigurationError,
    JobberResponseError,
    JobberTransportError,
    ReconnectRequired,
)
from tasks.store import accounts
from tasks.store.db import unit_of_work

log = logging.getLogger(__name__)

# Refresh this long before the JWT says the token expires, so a request never races the expiry.
EXPIRY_MARGIN = timedelta(seconds=60)

RECONNECT_MESSAGES = (
    "user has disconnected this app",
    "this account is not active",
    "the provided refresh token is not valid",
)


def is_reconnect_message(message: str) -> bool:
    lowered = message.lower()
    return any(m in lowered for m in RECONNECT_MESSAGES)


def token_expiry(access_token: str, response: dict[str, Any] | None = None) -> datetime | None:
    """When an access token expires: the JWT's `exp` (read without verifying), else `expires_at`/`expires_in`."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
        if "exp" in claims:
            return datetime.fromtimestamp(float(claims["exp"]), tz=UTC)
    except (jwt.PyJWTError, ValueError, TypeError):
        pass
    response = response or {}
    expires_at = response.get("expires_at")
    if expires_at is not None:
        try:
            if isinstance(expires_at, int | float) or str(expires_at).isdigit():
                return datetime.fromtimestamp(float(expires_at), tz=UTC)
            parsed = datetime.fromisoformat(str(expires_at).replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            pass
    expires_in = response.get("expires_in")
    if isinstance(expires_in, int | float):
        return datetime.now(UTC) + timedelta(seconds=float(expires_in))
    return None


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None

    def __repr__(self) -> str:  # never print tokens
        return f"TokenSet(expires_at={self.expires_at!r})"


class OAuthClient:
    """Talks to Jobber's token endpoint (authorization-code grant and refresh)."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http or httpx.Client(timeout=timeout)

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Trade an authorization code (from the OAuth callback) for tokens."""
        return self._post({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> TokenSet:
        """Use a refresh token once; the answer carries the next refresh token."""
        return self._post({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _post(self, form: dict[str, str]) -> TokenSet:
        data = {"client_id": self._client_id, "client_secret": self._client_secret, **form}
        try:
            response = self._http.post(self._token_url, data=data, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise JobberTransportError(f"Could not reach Jobber's token endpoint: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code >= 500:
            raise JobberTransportError(f"Jobber's token endpoint answered HTTP {response.status_code}")
        if response.status_code >= 400 or "access_token" not in body:
            error = str(body.get("error") or "")
            description = str(body.get("error_description") or body.get("message") or "")
            # Only `invalid_grant` (or Jobber's own wording for a dead connection) means the grant is dead.
            if error == "invalid_grant" or is_reconnect_message(description):
                raise ReconnectRequired(
                    "Jobber no longer accepts this connection's refresh token"
                    f"{': ' + description if description else ''}. Connect the app to Jobber again."
                )
            if response.status_code >= 400:
                raise _configuration_error(response.status_code, error, description)
            raise JobberResponseError(f"Jobber's token endpoint answered HTTP {response.status_code} without tokens")
        access = str(body["access_token"])
        refresh = body.get("refresh_token")
        return TokenSet(access, str(refresh) if refresh else None, token_expiry(access, body))


def _configuration_error(status: int, error: str, description: str) -> JobberOAuthConfigurationError:
    """A refusal of the app itself (invalid_client, any other 4xx): the grant is not dead, keep it."""
    what = error or "no error code"
    detail = f": {description}" if description else ""
    if error == "invalid_client":
        hint = (
            "Jobber does not recognise the app's credentials: check JOBBER_CLIENT_ID and JOBBER_CLIENT_SECRET "
            "(or JOBBER_API_SECRET) against the app in Jobber's Developer Center"
        )
    else:
        hint = (
            "check JOBBER_CLIENT_ID, JOBBER_CLIENT_SECRET and JOBBER_BASE_URL (the token endpoint must be "
            "Jobber's, or the sandbox's)"
        )
    return JobberOAuthConfigurationError(
        f"Jobber's token endpoint refused the app (HTTP {status}, {what}{detail}). {hint}. This is a "
        "configuration problem, not a dead connection: stored tokens are kept and work again once it is fixed.",
        variable="JOBBER_CLIENT_SECRET" if error == "invalid_client" else None,
        oauth_error=error or None,
    )


class TokenProvider(Protocol):
    """Where the Jobber client gets its bearer token."""

    account_key: str

    def access_token(self) -> str:
        """A token believed to be valid now (refreshing first when it is about to expire)."""
        ...

    def after_unauthorized(self, rejected: str) -> str:
        """Jobber answered 401 to `rejected`: refresh (once, across callers) and return the new token."""
        ...


class StaticTokenProvider:
    """A fixed access token (JOBBER_API_KEY): no refresh possible, a 401 means reconnect."""

    def __init__(self, token: str, *, account_key: str = "default") -> None:
        self._token = token
        self.account_key = account_key

    def access_token(self) -> str:
        return self._token

    def after_unauthorized(self, rejected: str) -> str:
        raise ReconnectRequired(
            "Jobber rejected the access token in JOBBER_API_KEY (expired or revoked). Set JOBBER_CLIENT_ID, "
            "JOBBER_CLIENT_SECRET and JOBBER_REFRESH_TOKEN so tokens refresh, or connect the app again.",
            account_id=self.account_key,
        )


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _lock_for(key: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


class DatabaseTokenProvider:
    """Tokens kept in the database, refreshed single-flight across threads and processes."""

    def __init__(
        self,
        *,
        engine: Engine,
        oauth: OAuthClient,
        account_key: str = "default",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._oauth = oauth
        self.account_key = account_key
        self._now = now
        self._cached: accounts.StoredTokens | None = None
        self.refreshes = 0

    def seed(self, *, access_token: str | None, refresh_token: str | None) -> None:
        """Store tokens from the environment when the database has none for this account yet."""
        with unit_of_work(self._engine) as session:
            existing = accounts.read_tokens(session, account_key=self.account_key)
            if existing is not None and (existing.access_token or existing.refresh_token):
                return
            status = accounts.account_status(session, account_key=self.account_key)
            if status is not None and status[0] != "connected":
                return
            if access_token or refresh_token:
                accounts.save_tokens(
                    session,
                    account_key=self.account_key,
                    access_token=access_token,
                    refresh_token=refresh_token,
                    access_expires_at=token_expiry(access_token) if access_token else None,
                )

    def _fresh(self, tokens: accounts.StoredTokens | None) -> bool:
        if tokens is None or not tokens.access_token:
            return False
        if tokens.access_expires_at is None:
            return True
        return tokens.access_expires_at - EXPIRY_MARGIN > self._now()

    def _load(self) -> accounts.StoredTokens:
        with unit_of_work(self._engine) as session:
            tokens = accounts.read_tokens(session, account_key=self.account_key)
            if tokens is None:
                status = accounts.account_status(session, account_key=self.account_key)
                reason = status[1] if status and status[0] != "connected" else None
                raise ReconnectRequired(
                    reason
                    or f"No Jobber tokens stored for account {self.account_key!r}: connect the app to Jobber "
                    "(open /auth/jobber/connect on the gateway) or set JOBBER_REFRESH_TOKEN.",
                    account_id=self.account_key,
                )
            return tokens

    def access_token(self) -> str:
        tokens = self._cached if self._fresh(self._cached) else None
        if tokens is None:
            tokens = self._load()
            self._cached = tokens
        if self._fresh(tokens) and tokens.access_token is not None:
            return tokens.access_token
        return self._refresh(seen_generation=tokens.generation)

    def after_unauthorized(self, rejected: str) -> str:
        cached = self._cached
        if cached is not None and cached.access_token == rejected:
            generation = cached.generation
        else:
            stored = self._load()
            if stored.access_token and stored.access_token != rejected:
                self._cached = stored
                return stored.access_token
            generation = stored.generation
        return self._refresh(seen_generation=generation, force=True)

    def _refresh(self, *, seen_generation: int, force: bool = False) -> str:
        with _lock_for(self.account_key):
            with unit_of_work(self._engine) as session:
                accounts.lock_tokens(session, account_key=self.account_key)
                current = accounts.read_tokens(session, account_key=self.account_key)
                if current is None:
                    raise ReconnectRequired(
                        f"No Jobber tokens stored for account {self.account_key!r}: connect the app again.",
                        account_id=self.account_key,
                    )
                if current.generation != seen_generation and self._fresh(current):
                    # Someone else refreshed while we waited for the lock.
                    self._cached = current
                    assert current.access_token is not None
                    return current.access_token
                if not force and self._fresh(current):
                    self._cached = current
                    assert current.access_token is not None
                    return current.access_token
                if not current.refresh_token:
                    reason = "The access token expired and no refresh token is stored; connect the app again."
                    accounts.mark_reconnect_needed(session, account_key=self.account_key, reason=reason)
                    raise ReconnectRequired(reason, account_id=self.account_key)
                try:
                    new = self._oauth.refresh(current.refresh_token)
                except ReconnectRequired as exc:
                    accounts.mark_reconnect_needed(session, account_key=self.account_key, reason=str(exc))
                    session.commit()
                    raise ReconnectRequired(str(exc), account_id=self.account_key) from exc
                # Persist the rotated pair before anyone uses the new access token.
                generation = accounts.save_tokens(
                    session,
                    account_key=self.account_key,
                    access_token=new.access_token,
                    refresh_token=new.refresh_token or current.refresh_token,
                    access_expires_at=new.expires_at,
                )
            self.refreshes += 1
            log.info("Refreshed Jobber tokens for account %s (generation %d)", self.account_key, generation)
            self._cached = accounts.StoredTokens(
                new.access_token, new.refresh_token or current.refresh_token, new.expires_at, generation
            )
            return new.access_token


def mark_disconnected(engine: Engine, *, account_key: str, reason: str) -> None:
    """The app was disconnected (APP_DISCONNECT or a disconnect error): drop the tokens, flag the account."""
    with unit_of_work(engine) as session:
        accounts.mark_reconnect_needed(session, account_key=account_key, reason=reason, disconnected=True)


__all__ = [
    "DatabaseTokenProvider",
    "JobberAuthError",
    "OAuthClient",
    "StaticTokenProvider",
    "TokenProvider",
    "TokenSet",
    "mark_disconnected",
    "token_expiry",
]
