"""Jobber OAuth 2.0: code exchange, refresh with rotation, and where access tokens come from.

Jobber rotates refresh tokens: every refresh returns a new refresh token and the old one dies at once.
So `DatabaseTokenProvider` refreshes single-flight (a thread lock in the process, a lease row across
processes), re-reads the stored tokens once it holds the lease (another process may already have
refreshed), and commits the new pair before anyone uses the new access token.

No database lock is held across the HTTP call to Jobber (on SQLite that lock is the whole database's
write lock: the gateway's inbox would wait behind a slow token endpoint). The lease is a committed row
(`jobber_tokens.refresh_lease`, claimed with a conditional UPDATE, `REFRESH_LEASE` long); the call runs
outside any transaction; the new pair is written in one short transaction fenced on the generation it
replaces, so a holder whose lease ran out cannot overwrite newer tokens, and a refusal of an already
rotated token never deletes the current ones. Other callers poll briefly and re-read. A refresh answered
`invalid_grant` (the token is dead) puts the account in `reconnect_needed` with a message a person can act
on; any other refusal (`invalid_client`, a bare 400) is a configuration problem
(`JobberOAuthConfigurationError`) and keeps the stored tokens.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
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
from tasks.store.models import JobberToken

log = logging.getLogger(__name__)

# Refresh this long before the JWT says the token expires, so a request never races the expiry.
EXPIRY_MARGIN = timedelta(seconds=60)
# After a failed attempt to learn which Jobber account the stored tokens belong to, try again this much later.
PIN_RETRY_S = 300.0
# A refresh is claimed for this long (the token call's connect and read timeouts are 30 s each): a process
# killed mid-refresh delays the others' refresh by at most this much.
REFRESH_LEASE = timedelta(seconds=90)
# How long a caller waits for another process's refresh before giving up with a transport error.
REFRESH_WAIT_S = REFRESH_LEASE.total_seconds() + 30.0
LEASE_POLL_S = 0.05
LEASE_POLL_MAX_S = 1.0

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
        self._credentials = {"client_id": client_id, "client_secret": client_secret}  # sent with every grant
        self._http = http or httpx.Client(timeout=timeout)

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Trade an authorization code (from the OAuth callback) for tokens."""
        return self._post({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> TokenSet:
        """Use a refresh token once; the answer carries the next refresh token."""
        return self._post({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _post(self, form: dict[str, str]) -> TokenSet:
        data = {**self._credentials, **form}
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
        identify: Callable[[str], str] | None = None,
    ) -> None:
        """`identify(access_token)` answers the Jobber account id of a token (Jobber's `account { id }`):
        given, the account's id is recorded on first use when it is not yet (tokens seeded from the
        environment), which pins the installation to that account (see `apply_app_disconnect` and
        `tasks.jobber.connect.store_connection`)."""
        self._engine = engine
        self._oauth = oauth
        self.account_key = account_key
        self._now = now
        self._cached: accounts.StoredTokens | None = None
        self.refreshes = 0
        self._identify = identify
        self._pin_after = 0.0 if identify is not None else math.inf

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
        token = self._current_token()
        if time.monotonic() >= self._pin_after:
            self.pin_account(token)
        return token

    def _current_token(self) -> str:
        tokens = self._cached if self._fresh(self._cached) else None
        if tokens is None:
            tokens = self._load()
            self._cached = tokens
        if self._fresh(tokens) and tokens.access_token is not None:
            return tokens.access_token
        return self._refresh(seen_generation=tokens.generation)

    def pin_account(self, access_token: str | None = None) -> str | None:
        """The recorded Jobber account id of this account, asking Jobber (and recording it) when unknown.

        None when it could not be learned now (no `identify`, or Jobber did not answer: retried later).
        Never raises: the caller's own request goes on either way.
        """
        self._pin_after = math.inf  # one attempt at a time; reset below when it fails
        try:
            with unit_of_work(self._engine) as session:
                pinned = accounts.pinned_jobber_account(session, account_key=self.account_key)
            if pinned is not None or self._identify is None:
                return pinned
            jobber_id = self._identify(access_token or self._current_token())
            with unit_of_work(self._engine) as session:
                pinned = accounts.pin_jobber_account(session, account_key=self.account_key, jobber_account_id=jobber_id)
        except Exception as exc:  # noqa: BLE001 - recording the id must never fail the caller's request
            self._pin_after = time.monotonic() + PIN_RETRY_S
            log.warning(
                "Could not learn which Jobber account the tokens of account %s belong to (%s); trying again later",
                self.account_key,
                type(exc).__name__,
            )
            return None
        log.info("Account %s is Jobber account %s (recorded)", self.account_key, pinned)
        return pinned

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
        """Single-flight refresh: threads of this process queue on a lock, processes on the lease row.

        No database lock is held while Jobber's token endpoint is called: the lease is claimed and committed
        first (`accounts.claim_refresh_lease`), the HTTP call runs outside any transaction, and the new pair
        is written in a second short transaction fenced on the generation it replaces. A caller that finds
        the lease held polls (briefly, backing off) until the holder has stored new tokens, gives the lease
        back, or its lease runs out.
        """
        with _lock_for(self.account_key):
            lease = uuid.uuid4().hex
            waited_until = time.monotonic() + REFRESH_WAIT_S
            pause = LEASE_POLL_S
            while True:
                current = self._claim_refresh(lease, seen_generation=seen_generation, force=force)
                if isinstance(current, str):
                    return current  # fresh tokens, stored by another caller or still valid
                if current is not None:
                    return self._refresh_holding(lease, current)
                if time.monotonic() > waited_until:
                    raise JobberTransportError(
                        f"Another process has been refreshing the Jobber tokens of account {self.account_key!r} "
                        f"for more than {REFRESH_WAIT_S:.0f} s; try again later"
                    )
                time.sleep(pause)
                pause = min(pause * 2, LEASE_POLL_MAX_S)

    def _claim_refresh(self, lease: str, *, seen_generation: int, force: bool) -> str | accounts.StoredTokens | None:
        """The access token to use (fresh tokens are stored), the stored tokens once `lease` is ours, or None
        while another caller holds the lease. Short transactions only."""
        with unit_of_work(self._engine) as session:  # read first: a poll while another holds the lease writes nothing
            current = accounts.read_tokens(session, account_key=self.account_key)
            held = accounts.read_refresh_lease(session, account_key=self.account_key).held(datetime.now(UTC))
        if current is None:
            raise ReconnectRequired(
                f"No Jobber tokens stored for account {self.account_key!r}: connect the app again.",
                account_id=self.account_key,
            )
        reuse = self._usable(current, seen_generation=seen_generation, force=force)
        if reuse is not None:
            return reuse
        if held:
            return None
        now = datetime.now(UTC)
        dead: str | None = None
        with unit_of_work(self._engine) as session:
            if not accounts.claim_refresh_lease(
                session, account_key=self.account_key, token=lease, now=now, until=now + REFRESH_LEASE
            ):
                return None  # another caller claimed it first
            current = accounts.read_tokens(session, account_key=self.account_key)
            if current is None:  # deleted between the two transactions: the claim matched nothing
                return None
            reuse = self._usable(current, seen_generation=seen_generation, force=force)
            if reuse is not None:
                accounts.release_refresh_lease(session, account_key=self.account_key, token=lease)
                return reuse
            if not current.refresh_token:
                dead = "The access token expired and no refresh token is stored; connect the app again."
                accounts.mark_reconnect_needed(session, account_key=self.account_key, reason=dead)
        if dead is not None:
            raise ReconnectRequired(dead, account_id=self.account_key)
        return current

    def _usable(self, current: accounts.StoredTokens, *, seen_generation: int, force: bool) -> str | None:
        """The stored access token when no refresh is needed: someone refreshed since `seen_generation`, or
        (not forced by a 401) it is still fresh."""
        if self._fresh(current) and (current.generation != seen_generation or not force):
            self._cached = current
            assert current.access_token is not None
            return current.access_token
        return None

    def _refresh_holding(self, lease: str, current: accounts.StoredTokens) -> str:
        """Holding the lease: call Jobber (no transaction open), then store the rotated pair, fenced."""
        assert current.refresh_token is not None
        try:
            new = self._oauth.refresh(current.refresh_token)
        except ReconnectRequired as exc:
            with unit_of_work(self._engine) as session:
                dead = accounts.forget_dead_tokens(
                    session, account_key=self.account_key, generation=current.generation, reason=str(exc)
                )
                if not dead:
                    accounts.release_refresh_lease(session, account_key=self.account_key, token=lease)
            if not dead:  # newer tokens were stored meanwhile: the refused token was already rotated away
                return self._adopt_stored()
            raise ReconnectRequired(str(exc), account_id=self.account_key) from exc
        except BaseException:
            try:
                with unit_of_work(self._engine) as session:
                    accounts.release_refresh_lease(session, account_key=self.account_key, token=lease)
            except Exception:  # noqa: BLE001 - the lease runs out by itself; the caller sees the first error
                log.warning("Could not release the token refresh lease of account %s", self.account_key)
            raise
        refresh_token = new.refresh_token or current.refresh_token
        # Persist the rotated pair before anyone uses the new access token.
        with unit_of_work(self._engine) as session:
            generation = accounts.save_refreshed_tokens(
                session,
                account_key=self.account_key,
                refreshed_generation=current.generation,
                lease=lease,
                access_token=new.access_token,
                refresh_token=refresh_token,
                access_expires_at=new.expires_at,
            )
        if generation is None:
            log.warning(
                "Jobber tokens of account %s were refreshed by another process while this one waited on Jobber "
                "longer than its lease; keeping the stored pair",
                self.account_key,
            )
            return self._adopt_stored()
        self.refreshes += 1
        log.info("Refreshed Jobber tokens for account %s (generation %d)", self.account_key, generation)
        self._cached = accounts.StoredTokens(new.access_token, refresh_token, new.expires_at, generation)
        return new.access_token

    def _adopt_stored(self) -> str:
        stored = self._load()
        if not stored.access_token:
            raise ReconnectRequired(
                f"No Jobber access token stored for account {self.account_key!r}: connect the app again.",
                account_id=self.account_key,
            )
        self._cached = stored
        return stored.access_token


def mark_disconnected(engine: Engine, *, account_key: str, reason: str) -> None:
    """The app was disconnected (APP_DISCONNECT or a disconnect error): drop the tokens, flag the account."""
    with unit_of_work(engine) as session:
        accounts.mark_reconnect_needed(session, account_key=account_key, reason=reason, disconnected=True)


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def apply_app_disconnect(engine: Engine, *, jobber_account_id: str, occurred_at: str) -> str | None:
    """Jobber's signed APP_DISCONNECT for `jobber_account_id`: the account key whose tokens were dropped, or None.

    Only the account this installation is pinned to counts: the stored account whose recorded Jobber
    account id (`accounts.jobber_account_id`, written when connecting or on the first use of tokens seeded
    from JOBBER_REFRESH_TOKEN) is `jobber_account_id`. Every Jobber account that installed the app sends
    correctly signed webhooks, so a disconnect from any other account (or one arriving before the
    installation's account is known) changes nothing. A disconnect older than the account's current
    tokens (Jobber re-delivering it after a reconnect) changes nothing either.
    """
    with unit_of_work(engine) as session:
        account = accounts.find_account_by_jobber_id(session, jobber_account_id=jobber_account_id)
        if account is None:
            log.warning("APP_DISCONNECT from a Jobber account this installation is not connected to: ignored")
            return None
        key = account.key
        token = session.get(JobberToken, key)
        occurred = _parse_time(occurred_at)
        saved = accounts.as_utc(token.updated_at) if token is not None else None
        if occurred is not None and saved is not None and saved > occurred:
            log.info("APP_DISCONNECT older than the account's current tokens (a reconnect followed): ignored")
            return None
    mark_disconnected(engine, account_key=key, reason=f"Jobber sent APP_DISCONNECT at {occurred_at}")
    return key


__all__ = [
    "DatabaseTokenProvider",
    "apply_app_disconnect",
    "JobberAuthError",
    "OAuthClient",
    "StaticTokenProvider",
    "TokenProvider",
    "TokenSet",
    "mark_disconnected",
    "token_expiry",
]
