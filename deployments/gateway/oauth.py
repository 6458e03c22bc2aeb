"""Gateway routes: connecting a Jobber account with OAuth (authorization code grant).

- `GET /auth/jobber/connect` is for the admin only (ADMIN_TOKEN, the admin page's credentials: basic auth
  in a browser, or a bearer token). It redirects (302) to Jobber's consent page with
  `redirect_uri = PUBLIC_URL + /auth/jobber/callback` and a signed, expiring `state`, and sets a
  short-lived HttpOnly cookie that the state is bound to. `?replace=1` is the admin's explicit
  "replace the connected Jobber account" action: it is bound into the state too.
- `GET /auth/jobber/callback` (the "OAuth Callback URL" of the app in Jobber's Developer Center)
  exchanges the code, stores the tokens and the account (`tasks.jobber.connect.store_connection`) and
  shows a small page. What arrives there:

  | query                                  | answer                                                        |
  |----------------------------------------|---------------------------------------------------------------|
  | nothing (the user denied)              | 200, "You did not connect ..." with a link to try again        |
  | `error=...`                            | 200 for access_denied, else 400, with a link to try again      |
  | `code`, no `state`                     | 400: start from /auth/jobber/connect (an App Marketplace install too) |
  | `code`, bad or expired `state`         | 400: not a flow this gateway started (or older than 10 minutes) |
  | `code`, valid `state` but not the cookie | 400: not started in this browser                              |
  | `code`, valid `state` and cookie       | accepted                                                       |
  | a code Jobber refuses                  | 400 with the reason                                            |
  | another Jobber account than the connected one, without replace | 409, nothing changed            |
  | JOBBER_CLIENT_ID/SECRET unset          | 503 naming the variables                                       |

The state is `<issued unix time>.<nonce>.<flags>.<HMAC-SHA256>`, the HMAC keyed with the client secret
over the first three and a hash of the cookie's value: the callback can tell its own flows from forged
ones without storing anything, and a state is worthless without the browser that started the flow
(someone who obtains a state cannot finish the flow with their own Jobber account's code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from deployments.gateway.admin import deny
from tasks.admin.pages import render_message
from tasks.errors import AccountMismatch, JobberAuthError, JobberError
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
_STATE_CONTEXT = b"jobberflow/oauth-state/v2\n"
# The browser that started the flow: HttpOnly, only sent to /auth/jobber/*, gone after STATE_TTL_S.
COOKIE_NAME = "jobberflow_oauth"
COOKIE_PATH = "/auth/jobber"
_FLAG_REPLACE = "r"
_FLAG_NONE = "n"

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# -- state ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StateClaims:
    """What a verified state says: when it was issued and whether the admin asked to replace the account."""

    issued: int
    replace: bool


def _binding_digest(binding: str) -> bytes:
    return hashlib.sha256(binding.encode("utf-8", "replace")).digest()


def _signature(secret: str, payload: str, binding: str) -> str:
    message = _STATE_CONTEXT + payload.encode("ascii") + b"\n" + _binding_digest(binding)
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_state(
    secret: str, *, binding: str = "", replace: bool = False, now: float | None = None, nonce: str | None = None
) -> str:
    """A `state` for Jobber's authorize URL that `verify_state` accepts for `STATE_TTL_S` seconds, and only
    together with the same `binding` (the value of the browser's cookie)."""
    issued = int(time.time() if now is None else now)
    flags = _FLAG_REPLACE if replace else _FLAG_NONE
    payload = f"{issued}.{nonce or secrets.token_urlsafe(12)}.{flags}"
    return f"{payload}.{_signature(secret, payload, binding)}"


def read_state(
    state: str, secret: str, *, binding: str = "", now: float | None = None, max_age_s: float = STATE_TTL_S
) -> StateClaims | None:
    """The claims of `state` when it came from `make_state` with this secret and binding and is at most
    `max_age_s` old; else None."""
    # Only what make_state produces: ASCII digits, a URL-safe nonce, a flag and signature (anything else is forged).
    parts = state.split(".")
    if len(parts) != 4 or len(state) > 200 or not state.isascii() or not parts[0].isdigit():
        return None
    issued, nonce, flags, signature = parts
    if flags not in (_FLAG_REPLACE, _FLAG_NONE):
        return None
    expected = _signature(secret, f"{issued}.{nonce}.{flags}", binding)
    if not hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
        return None
    age = (time.time() if now is None else now) - int(issued)
    if not -STATE_CLOCK_SKEW_S <= age <= max_age_s:
        return None
    return StateClaims(issued=int(issued), replace=flags == _FLAG_REPLACE)


def verify_state(
    state: str, secret: str, *, binding: str = "", now: float | None = None, max_age_s: float = STATE_TTL_S
) -> bool:
    """True when `state` came from `make_state` with this secret and binding and is at most `max_age_s` old."""
    return read_state(state, secret, binding=binding, now=now, max_age_s=max_age_s) is not None


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


def _wants_replace(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _forget_cookie(response: Response, settings: Settings) -> Response:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, secure=_secure(settings), httponly=True, samesite="lax")
    return response


def _secure(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


# -- routes --------------------------------------------------------------------------------------------
@router.get(CONNECT_PATH, summary="Start connecting a Jobber account (admin only)")
def connect(request: Request) -> Response:
    """Redirect the admin to Jobber's consent page; Jobber then sends the browser to the callback.

    `?replace=1`: connect another Jobber account in place of the one this installation is connected to.
    """
    denied = deny(request, as_json=False, what="Connecting to Jobber")
    if denied is not None:
        return denied
    settings: Settings = request.app.state.settings
    credentials = _credentials(settings)
    if isinstance(credentials, list):
        return _not_configured(credentials)
    client_id, secret = credentials
    replace = _wants_replace(request.query_params.get("replace"))
    binding = secrets.token_urlsafe(32)
    url = authorize_url(
        base_url=settings.jobber_base_url,
        client_id=client_id,
        redirect_uri=redirect_uri(settings),
        state=make_state(secret, binding=binding, replace=replace),
    )
    if replace:
        log.warning("The admin started replacing the connected Jobber account")
    response = RedirectResponse(url, status_code=302, headers=_HEADERS)
    # SameSite=Lax: sent on the top-level redirect back from Jobber, never on cross-site subrequests.
    response.set_cookie(
        COOKIE_NAME,
        binding,
        max_age=int(STATE_TTL_S),
        path=COOKIE_PATH,
        secure=_secure(settings),
        httponly=True,
        samesite="lax",
    )
    return response


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
    if not state:
        # Jobber's App Marketplace sends installs here without a state: anyone could send a code this way.
        log.warning("Refused a Jobber OAuth callback without state")
        return _page(
            400,
            title="Start connecting from this gateway",
            message="This connection was not started from this gateway, so nothing changed. The gateway's admin "
            "connects Jobber by opening /auth/jobber/connect (signing in with the admin credentials), also after "
            "installing the app from Jobber's App Marketplace.",
            tone="error",
        )
    binding = request.cookies.get(COOKIE_NAME)
    claims = read_state(state, secret, binding=binding or "")
    if claims is None:
        if binding is None:
            reason = "this browser did not start it (start again in the same browser, with cookies allowed)"
        else:
            reason = "it was not started from this gateway, or it was started more than 10 minutes ago"
        log.warning("Refused a Jobber OAuth callback with an invalid or expired state")
        return _forget_cookie(
            _page(
                400,
                title="This connection link is not valid",
                message=f"This connection link is not valid: {reason}. Start again.",
                tone="error",
            ),
            settings,
        )
    return _forget_cookie(_finish(request, settings, code, client_id, secret, replace=claims.replace), settings)


def _finish(request: Request, settings: Settings, code: str, client_id: str, secret: str, *, replace: bool) -> Response:
    """Exchange the code and store the connection (the state and its cookie were checked)."""
    with httpx.Client(timeout=settings.jobber_timeout_s) as http:
        oauth = OAuthClient(token_url=settings.token_url, client_id=client_id, client_secret=secret, http=http)
        try:
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
                replace=replace,
                oauth=oauth,
            )
        except AccountMismatch as exc:
            log.warning("Refused to replace the connected Jobber account without the admin's replace action")
            return _page(409, title="Not connected: another Jobber account", message=str(exc), tone="error")
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
    log.info("Connected Jobber account %s%s", account.get("id"), " (replacing the previous one)" if replace else "")
    return _page(
        200,
        title=f"Connected to {name}",
        message=f"The app is connected to {name} in Jobber. Syncing and review requests can use it now.",
        detail=f"Jobber account id: {account.get('id')}",
        tone="ok",
        retry=False,
    )
