"""Gateway routes: connecting a Jobber account with OAuth (authorization code grant).

- `GET /auth/jobber/connect` redirects (302) to Jobber's consent page with
  `redirect_uri = PUBLIC_URL + /auth/jobber/callback` and a signed, expiring `state`.
- `GET /auth/jobber/callback` (the "OAuth Callback URL" of the app in Jobber's Developer Center)
  exchanges the code, stores the tokens and the account (`tasks.jobber.connect.store_connection`) and
  shows a small page. What arrives there:

  | query                          | answer                                                          |
  |--------------------------------|-----------------------------------------------------------------|
  | nothing (the user denied)      | 200, "You did not connect ..." with a link to try again          |
  | `error=...`                    | 200 for access_denied, else 400, with a link to try again        |
  | `code`, no `state`             | accepted: an install from Jobber's App Marketplace sends none   |
  | `code`, valid `state`          | accepted                                                         |
  | `code`, bad or expired `state` | 400: not a flow this gateway started (or older than 10 minutes) |
  | a code Jobber refuses          | 400 with the reason                                              |
  | JOBBER_CLIENT_ID/SECRET unset  | 503 naming the variables                                         |

The state is `<issued unix time>.<nonce>.<HMAC-SHA256 of both, keyed with the client secret>`: the
callback can tell its own flows from forged ones without storing anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from tasks.admin.pages import render_message
from tasks.errors import JobberAuthError, JobberError
from tasks.jobber.auth import OAuthClient, TokenSet
from tasks.jobber.connect import authorize_url, store_connection
from tasks.settings import Settings, is_placeholder

log = logging.getLogger(__name__)

router = APIRouter(tags=["oauth"])

CONNECT_PATH = "/auth/jobber/connect"
CALLBACK_PATH = "/auth/jobber/callback"
ADMIN_PATH = "/admin/jobber"
STATE_TTL_S = 600.0
# A state stamped slightly in the future (clock steps between gateway processes) is still ours.
STATE_CLOCK_SKEW_S = 60.0
_STATE_CONTEXT = b"jobberflow/oauth-state/v1\n"

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# -- state ---------------------------------------------------------------------------------------------
def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), _STATE_CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_state(secret: str, *, now: float | None = None, nonce: str | None = None) -> str:
    """A `state` for Jobber's authorize URL that `verify_state` accepts for `STATE_TTL_S` seconds."""
    issued = int(time.time() if now is None else now)
    payload = f"{issued}.{nonce or secrets.token_urlsafe(12)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify_state(state: str, secret: str, *, now: float | None = None, max_age_s: float = STATE_TTL_S) -> bool:
    """True when `state` came from `make_state` with this secret and is at most `max_age_s` old."""
    # Only what make_state produces: ASCII digits, a URL-safe nonce and signature (anything else is forged).
    parts = state.split(".")
    if len(parts) != 3 or len(state) > 200 or not state.isascii() or not parts[0].isdigit():
        return False
    issued, nonce, signature = parts
    expected = _signature(secret, f"{issued}.{nonce}")
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
        return False
    age = (time.time() if now is None else now) - int(issued)
    return -STATE_CLOCK_SKEW_S <= age <= max_age_s


# -- helpers -------------------------------------------------------------------------------------------
def redirect_uri(settings: Settings) -> str:
    """The callback URL Jobber sends the browser back to (must match the app's OAuth Callback URL)."""
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def _credentials(settings: Settings) -> tuple[str, str] | list[str]:
    """(client id, client secret), or the names of the variables that are missing."""
    client_id = settings.jobber_client_id or ""
    secret = settings.client_secret
    missing = []
    if is_placeholder(client_id):
        missing.append("JOBBER_CLIENT_ID")
    if secret is None:
        missing.append("JOBBER_CLIENT_SECRET")
    if missing:
        return missing
    assert secret is not None
    return client_id, secret.get_secret_value()


def _page(
    status: int, *, title: str, message: str, tone: str, detail: str | None = None, retry: bool = True
) -> Response:
    return HTMLResponse(
        render_message(
            title=title,
            message=message,
            detail=detail,
            link_url=CONNECT_PATH if retry else ADMIN_PATH,
            link_text="Connect to Jobber again" if retry else "Open the admin page",
            tone=tone,
        ),
        status_code=status,
        headers=_HEADERS,
    )


def _not_configured(missing: list[str]) -> Response:
    names = " and ".join(missing)
    return HTMLResponse(
        render_message(
            title="Jobber connection not configured",
            message=f"Set {names} (from your app in Jobber's Developer Center) in the gateway's environment "
            "or .env, then restart the gateway.",
            tone="error",
        ),
        status_code=503,
        headers=_HEADERS,
    )


def _database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


# -- routes --------------------------------------------------------------------------------------------
@router.get(CONNECT_PATH, summary="Start connecting a Jobber account")
def connect(request: Request) -> Response:
    """Redirect to Jobber's consent page; Jobber then sends the browser to the callback."""
    settings: Settings = request.app.state.settings
    credentials = _credentials(settings)
    if isinstance(credentials, list):
        return _not_configured(credentials)
    client_id, secret = credentials
    url = authorize_url(
        base_url=settings.jobber_base_url,
        client_id=client_id,
        redirect_uri=redirect_uri(settings),
        state=make_state(secret),
    )
    return RedirectResponse(url, status_code=302, headers=_HEADERS)


@router.get(CALLBACK_PATH, summary="Jobber's OAuth callback")
def callback(request: Request) -> Response:
    """Finish connecting: exchange the code, store tokens and account, say which account is connected."""
    settings: Settings = request.app.state.settings
    params = request.query_params
    code, state, error = params.get("code"), params.get("state"), params.get("error")
    if error:
        denied = error == "access_denied"
        log.info("Jobber OAuth callback with error %r", error[:100])
        return _page(
            200 if denied else 400,
            title="Not connected" if denied else "Jobber could not connect the app",
            message="You did not connect the app to Jobber." if denied else f"Jobber answered: {error}.",
            detail=params.get("error_description"),
            tone="info" if denied else "error",
        )
    if not code:
        # A user who clicks "Cancel" on Jobber's consent page comes back with no parameters at all.
        return _page(
            200,
            title="Not connected",
            message="You did not connect the app to Jobber, so nothing changed. Connect whenever you are ready.",
            tone="info",
        )
    credentials = _credentials(settings)
    if isinstance(credentials, list):
        return _not_configured(credentials)
    client_id, secret = credentials
    if state is None:
        log.info("Jobber OAuth callback without state: an install from Jobber's App Marketplace")
    elif not verify_state(state, secret):
        log.warning("Refused a Jobber OAuth callback with an invalid or expired state")
        return _page(
            400,
            title="This connection link is not valid",
            message="The connection was not started from this gateway, or it was started more than 10 minutes ago. "
            "Start again.",
            tone="error",
        )

    try:
        with httpx.Client(timeout=settings.jobber_timeout_s) as http:
            oauth = OAuthClient(token_url=settings.token_url, client_id=client_id, client_secret=secret, http=http)
            tokens: TokenSet = oauth.exchange_code(code, redirect_uri(settings))
    except JobberAuthError as exc:
        log.warning("Jobber refused the OAuth code: %s", exc)
        client_problem = "JOBBER_CLIENT_ID" in str(exc)
        return _page(
            400,
            title="Jobber did not accept the connection",
            message=str(exc)
            if client_problem
            else "Jobber did not accept the authorization code: it expired, was already used, or was issued "
            "for another callback URL. Start again.",
            tone="error",
        )
    except JobberError as exc:
        log.warning("Could not exchange the Jobber OAuth code: %s", exc)
        return _page(502, title="Could not reach Jobber", message=f"{exc}. Try again in a moment.", tone="error")

    try:
        account = store_connection(
            tokens,
            graphql_url=settings.graphql_url,
            api_version=settings.jobber_api_version,
            account_key=settings.jobber_account_id or "default",
            database_url=_database_url(request.app.state.engine),
        )
    except JobberError as exc:
        log.warning("Connected, but looking up the Jobber account failed: %s", exc)
        return _page(
            502,
            title="Could not finish connecting",
            message=f"Jobber issued tokens, but looking up the account failed: {exc}. Try again.",
            tone="error",
        )
    except SQLAlchemyError:
        log.exception("Could not store the Jobber connection")
        return _page(
            503,
            title="Could not store the connection",
            message="The gateway's database is not available, so the connection was not saved. Try again.",
            tone="error",
        )
    name = str(account.get("name") or account.get("id"))
    log.info("Connected Jobber account %s", account.get("id"))
    return _page(
        200,
        title=f"Connected to {name}",
        message=f"The app is connected to {name} in Jobber. Syncing and review requests can use it now.",
        detail=f"Jobber account id: {account.get('id')}",
        tone="ok",
        retry=False,
    )
