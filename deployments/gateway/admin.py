"""Gateway routes: the admin page, `GET /admin/jobber` (Jobber's "Manage App URL") and `GET /admin/jobber.json`.

Behind ADMIN_TOKEN: `Authorization: Bearer <ADMIN_TOKEN>`, or HTTP basic auth with ADMIN_USERNAME and the
token as password (what a browser following the Manage App link can send). Both compared in constant time.
Without ADMIN_TOKEN (or with a placeholder) the page answers 503 and says what to set: it is never open.
The data comes from tasks.admin.dashboard, the HTML from tasks.admin.pages.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from tasks.admin.dashboard import Dashboard, dashboard_to_json, load_dashboard
from tasks.admin.pages import render_dashboard, render_message
from tasks.settings import Settings, is_placeholder
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


def _deny(request: Request, *, as_json: bool) -> Response | None:
    """None when the request may see the admin data, else the 503 / 401 answer."""
    settings: Settings = request.app.state.settings
    token = settings.admin_token.get_secret_value() if settings.admin_token is not None else ""
    if is_placeholder(token):
        message = (
            "The admin page is disabled until ADMIN_TOKEN is set. Set ADMIN_TOKEN to a long random value "
            '(for example the output of `python -c "import secrets; print(secrets.token_urlsafe(32))"`) '
            "in the gateway's environment or .env, and restart the gateway."
        )
        if as_json:
            return JSONResponse({"detail": message}, status_code=503, headers=SECURITY_HEADERS)
        page = render_message(title="Admin page not configured", message=message, tone="error")
        return HTMLResponse(page, status_code=503, headers=SECURITY_HEADERS)
    if check_credentials(request.headers.get("authorization"), token=token, username=settings.admin_username):
        return None
    client = request.client.host if request.client else "?"
    log.info("Refused admin request from %s: missing or wrong credentials", client)
    headers = {**SECURITY_HEADERS, "WWW-Authenticate": 'Basic realm="jobberflow admin", charset="UTF-8"'}
    message = "Sign in with the admin username and ADMIN_TOKEN, or send Authorization: Bearer <ADMIN_TOKEN>."
    if as_json:
        return JSONResponse({"detail": message}, status_code=401, headers=headers)
    return HTMLResponse(
        render_message(title="Authentication required", message=message, tone="error"),
        status_code=401,
        headers=headers,
    )


def _dashboard(request: Request) -> Dashboard:
    with session_factory(request.app.state.engine)() as session:
        return load_dashboard(session)


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
