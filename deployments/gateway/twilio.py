"""Gateway routes for Twilio: inbound SMS (STOP/START/HELP/replies) and delivery receipts.

Configure in the Twilio console (or on the Messaging Service):
- "A message comes in" webhook: `<PUBLIC_URL>/twilio/inbound` (HTTP POST)
- status callbacks are requested per message by the SMS channel: `<PUBLIC_URL>/twilio/status`

Every request must carry a valid `X-Twilio-Signature`, checked with Twilio's own `RequestValidator`
over the PUBLIC URL (Twilio signs the address it called, not the one this process sees behind a proxy)
and the form parameters (deployments/gateway/inbound.py: `TwilioVerifier`). A bad signature gets the
gateway's one refusal (401) and nothing is stored. The body is read under GATEWAY_MAX_BODY_BYTES (413 as
soon as it is larger, before it is read whole or checked).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from twilio.twiml.messaging_response import MessagingResponse

from deployments.gateway.inbound import form_params, verified_body, verifiers_for
from tasks.phone import mask_phone
from tasks.reviews.ledger import record_inbound, record_receipt
from tasks.settings import Settings, is_placeholder
from tasks.store.db import unit_of_work
from tasks.store.optouts import InboundAction

logger = logging.getLogger(__name__)

router = APIRouter()

TWIML_MEDIA_TYPE = "application/xml"


def _signed_form(
    handle: Callable[[Request, MultiDict], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A Twilio route from its handler: `handle` gets the form parameters when the request is signed by
    Twilio, else the route answers the gateway's refusal (reason logged)."""

    async def route(request: Request) -> Response:
        body = await verified_body(request, verifiers_for(request.app).twilio)
        return body if isinstance(body, Response) else await handle(request, form_params(body))

    # FastAPI names and describes the route after the handler; it must see only `request` in the signature
    route.__name__, route.__qualname__, route.__doc__ = handle.__name__, handle.__qualname__, handle.__doc__
    return route


def _twiml(message: str | None = None) -> Response:
    reply: Any = MessagingResponse()
    if message:
        reply.message(message)
    return Response(str(reply), media_type=TWIML_MEDIA_TYPE)


def _help_reply(settings: Settings) -> str:
    if settings.business_help_reply and not is_placeholder(settings.business_help_reply):
        return settings.business_help_reply
    return f"{settings.business_name}: reply STOP to opt out."


@router.post("/twilio/inbound")
@_signed_form
async def twilio_inbound(request: Request, params: MultiDict) -> Response:
    """An SMS a customer sent: STOP/START/HELP keywords and replies. Answers TwiML."""
    settings: Settings = request.app.state.settings
    engine: Engine = request.app.state.engine
    from_number = str(params.get("From") or "")
    if not from_number:
        return _twiml()

    def store() -> InboundAction:
        with unit_of_work(engine) as session:
            return record_inbound(
                session,
                message_sid=str(params.get("MessageSid") or params.get("SmsSid") or "") or None,
                from_number=from_number,
                to_number=str(params.get("To") or "") or None,
                body=str(params.get("Body") or ""),
            )

    action = await run_in_threadpool(store)
    logger.info("Inbound SMS from %s: %s", mask_phone(from_number), action)
    # STOP and START get an empty answer: Twilio's own opt-out handling already confirms them.
    if action == "help":
        return _twiml(_help_reply(settings))
    return _twiml()


@router.post("/twilio/status")
@_signed_form
async def twilio_status(request: Request, params: MultiDict) -> Response:
    """A delivery receipt for a message we sent: updates its Delivery row."""
    engine: Engine = request.app.state.engine
    sid = str(params.get("MessageSid") or params.get("SmsSid") or "")
    status = str(params.get("MessageStatus") or params.get("SmsStatus") or "")
    error_code = str(params.get("ErrorCode") or "") or None
    if not sid or not status:
        return Response(status_code=204)

    def store() -> bool:
        with unit_of_work(engine) as session:
            return record_receipt(session, provider_message_id=sid, status=status, error_code=error_code)

    changed = await run_in_threadpool(store)
    logger.info(
        "Twilio status for %s: %s%s (%s)",
        sid,
        status,
        f" {error_code}" if error_code else "",
        "recorded" if changed else "no change",
    )
    return Response(status_code=204)
