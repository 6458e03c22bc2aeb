"""Gateway routes: the admin page, `GET /admin/jobber` (Jobber's "Manage App URL") and `GET /admin/jobber.json`.

Behind ADMIN_TOKEN: `Authorization: Bearer <ADMIN_TOKEN>`, or HTTP basic auth with ADMIN_USERNAME and the
token as password (what a browser following the Manage App link can send). Both compared in constant time.
Without ADMIN_TOKEN (or with a placeholder, or one shorter than 16 characters) the page answers 503 and
says what to set: it is never open. `deny()` is the same check for the other admin-only routes
(connecting Jobber, /metrics, the API docs).
The data comes from tasks.admin.dashboard, the HTML from tasks.admin.pages.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from tasks.admin.dashboard import Dashboard, dashboard_to_json, load_dashboard, review_settings_summary
from tasks.admin.pages import render_dashboard, render_message
from tasks.settings import MIN_TOKEN_LENGTH, Settings
from tasks.store.db import session_factory

log = logging.getLogger(__name__)

router = APIRouter(tags=["admin"])

PAGE_PATH = "/admin/jobber"
JSON_PATH = "/admin/jobber.json"

# Nothing on the page is loaded from elsewhere and no script runs: say so to the browser.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_credentials(authorization: str | None, *, token: str, username: str) -> bool:
    """True when the Authorization header carries the admin token (bearer) or username + token (basic)."""
    if not authorization:
        return False
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return _same(credentials, token)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):  # ValueError: not ASCII; UnicodeDecodeError is one too
            return False
        user, colon, password = decoded.partition(":")
        # Both compared, always: the answer's timing says nothing about which one was wrong.
        return bool(colon) & _same(user, username) & _same(password, token)
    return False


def admin_token(settings: Settings) -> str | None:
    """ADMIN_TOKEN when it can be used (set, not a placeholder, long enough), else None."""
    if settings.token_problem("admin_token") is not None or settings.admin_token is None:
        return None
    return settings.admin_token.get_secret_value()


def is_admin(request: Request) -> bool:
    """True when the request carries the admin credentials (and ADMIN_TOKEN is usable)."""
    settings: Settings = request.app.state.settings
    token = admin_token(settings)
    return token is not None and check_credentials(
        request.headers.get("authorization"), token=token, username=settings.admin_username
    )


def deny(request: Request, *, as_json: bool, what: str = "The admin page") -> Response | None:
    """None when the request carries the admin credentials, else the 503 (ADMIN_TOKEN unusable) / 401 answer.

    Shared by every admin-only route (the admin page, connecting Jobber, /metrics, the API docs).
    """
    settings: Settings = request.app.state.settings
    problem = settings.token_problem("admin_token")
    if problem is not None:
        message = (
            f"{what} is disabled: {problem} Set ADMIN_TOKEN to a long random value (at least "
            f"{MIN_TOKEN_LENGTH} characters, for example the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`) '
            "in the gateway's environment or .env, and restart the gateway."
        )
        if as_json:
            return JSONResponse({"detail": message}, status_code=503, headers=SECURITY_HEADERS)
        page = render_message(title=f"{what} is not configured", message=message, tone="error")
        return HTMLResponse(page, status_code=503, headers=SECURITY_HEADERS)
    if is_admin(request):
        return None
    client = request.client.host if request.client else "?"
    log.info("Refused admin request to %s from %s: missing or wrong credentials", request.url.path, client)
    headers = {**SECURITY_HEADERS, "WWW-Authenticate": 'Basic realm="jobberflow admin", charset="UTF-8"'}
    message = "Sign in with the admin username and ADMIN_TOKEN, or send Authorization: Bearer <ADMIN_TOKEN>."
    if as_json:
        return JSONResponse({"detail": message}, status_code=401, headers=headers)
    return HTMLResponse(
        render_message(title="Authentication required", message=message, tone="error"),
        status_code=401,
        headers=headers,
    )


_deny = deny


def _dashboard(request: Request) -> Dashboard:
    from deployments.gateway.reviews import review_settings_for

    with session_factory(request.app.state.engine)() as session:
        dashboard = load_dashboard(session)
    try:  # the same settings the Make.com endpoint and the event worker use (routes run in a worker thread)
        summary, problem = review_settings_summary(review_settings_for(request)), None
    except (LookupError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        summary, problem = {}, f"not usable: {str(exc).splitlines()[0]}"
    return dataclasses.replace(dashboard, review_settings=summary, review_settings_problem=problem)


@router.get(PAGE_PATH, response_class=HTMLResponse, summary="Admin page (Jobber's Manage App URL)")
def admin_page(request: Request) -> Response:
    """The connection state, webhooks, sync freshness, review requests, opt-outs and the weekly chart."""
    denied = _deny(request, as_json=False)
    if denied is not None:
        return denied
    return HTMLResponse(render_dashboard(_dashboard(request), json_url=JSON_PATH), headers=SECURITY_HEADERS)


@router.get(JSON_PATH, summary="The admin page's data as JSON")
def admin_json(request: Request) -> Response:
    denied = _deny(request, as_json=True)
    if denied is not None:
        return denied
    return JSONResponse(dashboard_to_json(_dashboard(request)), headers=SECURITY_HEADERS)
