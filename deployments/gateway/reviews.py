"""Gateway routes for review requests.

- `GET /r/{token}`: the tracked review link in every message. Records the click (which stops follow-ups)
  and redirects (302) to the review link stored on the request.
- `GET /u/{token}`: a one-button page to unsubscribe from review emails; `POST /u/{token}` unsubscribes
  (RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click`). GET only shows the page, because
  mail scanners fetch links and must not unsubscribe anyone.
- `POST /api/webhooks/trigger-review`: the endpoint existing Make.com scenarios call. Authenticated by
  `Authorization: Bearer <MAKE_WEBHOOK_TOKEN>` or `X-Signature: <hex HMAC-SHA256 of the raw body keyed with
  MAKE_WEBHOOK_SECRET>` (deployments/gateway/inbound.py: `MakeVerifier`, the gateway's one refusal);
  plans the request through the same dedupe as Jobber webhooks; answers 202.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from deployments.gateway.inbound import verified_body, verifiers_for
from tasks.reviews.ledger import record_click, request_by_click_token
from tasks.reviews.rules.rendering import branding_for
from tasks.reviews.settings import ReviewSettings
from tasks.reviews.usecases.makecom import MakeReviewTrigger, plan_make_request
from tasks.settings import Settings
from tasks.store.db import unit_of_work
from tasks.store.models import ReviewRequest
from tasks.store.optouts import suppress

log = logging.getLogger(__name__)

router = APIRouter()

# Link-preview fetchers open URLs in messages without a person clicking: they are redirected, not counted.
_PREVIEW_AGENTS = (
    "facebookexternalhit",
    "whatsapp",
    "slackbot",
    "twitterbot",
    "discordbot",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",
    "googleimageproxy",
    "bingpreview",
)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def review_settings_for(request: Request) -> ReviewSettings:
    """`app.state.review_settings` when set (tests), else the contractor's: the jobber-events deployment's in
    Prefect (tasks/reviews/settings_source.py), so Make.com requests follow an edit made in the UI. Blocking
    (it may ask Prefect): call it in a worker thread."""
    configured = getattr(request.app.state, "review_settings", None)
    if isinstance(configured, ReviewSettings):
        return configured
    from tasks.reviews.settings_source import review_settings

    found = review_settings()
    if found is None:
        raise LookupError("the jobber-events deployment (and prefect.yaml) has no review settings")
    return found


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif;max-width:32em;"
        f"margin:3em auto;padding:0 1em'>{body}</body></html>"
    )
    return HTMLResponse(text, status_code=status_code, headers={"Cache-Control": "no-store"})


def _link_not_found() -> HTMLResponse:
    """The page for a link that is not valid (any more), whatever the reason."""
    return _page("Link not found", "<p>This link is not valid any more.</p>", 404)


def _emailed_request(session: Session, token: str) -> tuple[ReviewRequest, str] | None:
    """The review request sent by email that an unsubscribe link's token names, and the address it went to;
    None when the link is not valid."""
    review = request_by_click_token(session, token=token)
    if review is None or not review.recipient_email:
        return None
    return review, review.recipient_email


@router.get("/r/{token}", include_in_schema=False)
def review_click(token: str, request: Request) -> Response:
    """Record the click (stops follow-ups) and send the customer on to the review page."""
    agent = request.headers.get("user-agent", "").lower()
    with unit_of_work(_engine(request)) as session:
        review = request_by_click_token(session, token=token)
        if review is None:
            return _link_not_found()
        link = str(((review.context or {}).get("settings") or {}).get("review_link") or "")
        if not link.startswith(("https://", "http://")):
            return _link_not_found()
        if not any(bot in agent for bot in _PREVIEW_AGENTS):
            record_click(review, now=datetime.now(UTC))
    return RedirectResponse(
        link, status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


@router.get("/u/{token}", include_in_schema=False)
def unsubscribe_page(token: str, request: Request) -> Response:
    with unit_of_work(_engine(request)) as session:
        if _emailed_request(session, token) is None:
            return _link_not_found()
    return _page(
        "Unsubscribe",
        "<p>Stop receiving review requests by email?</p>"
        f"<form method='post' action='/u/{html.escape(token)}'>"
        "<button type='submit' name='List-Unsubscribe' value='One-Click'>Unsubscribe</button></form>",
    )


@router.post("/u/{token}", include_in_schema=False)
def unsubscribe(token: str, request: Request) -> Response:
    """One-click unsubscribe (RFC 8058): the address goes on the suppression list; follow-ups stop."""
    with unit_of_work(_engine(request)) as session:
        found = _emailed_request(session, token)
        if found is None:
            return _link_not_found()
        review, address = found
        suppress(session, channel="email", address=address, reason="email_unsubscribe", source="link")
        review.next_follow_up_at = None
    return _page("Unsubscribed", "<p>You will not receive review requests by email any more.</p>")


def _problem(status: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


@router.post("/api/webhooks/trigger-review")
async def trigger_review(request: Request) -> Response:
    """Plan a review request from a Make.com scenario's mapped fields (202 with the request's id and status)."""
    settings = _settings(request)
    raw = await verified_body(request, verifiers_for(request.app).make)
    if isinstance(raw, Response):
        return raw
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _problem(400, "the body is not JSON")
    if not isinstance(data, dict):
        return _problem(400, "the body must be a JSON object")
    try:
        body = MakeReviewTrigger.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())) or "body", "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return _problem(422, errors)
    try:
        review_settings = await anyio.to_thread.run_sync(review_settings_for, request)
    except (LookupError, ValidationError, OSError) as exc:
        log.error("trigger-review: no usable review settings: %s", type(exc).__name__)
        return _problem(503, "review requests are not configured (see the jobber-events deployment's settings)")
    decision = await anyio.to_thread.run_sync(
        lambda: plan_make_request(
            _engine(request),
            body,
            settings=review_settings,
            branding=branding_for(review_settings, settings),
            account_key=settings.jobber_account_id or "default",
        )
    )
    return JSONResponse(
        {
            "id": decision.request_id,
            "status": decision.status,
            "duplicate": decision.status == "duplicate",
            "planned_at": decision.planned_at.isoformat() if decision.planned_at else None,
            "reason": decision.reason,
        },
        status_code=202,
    )
