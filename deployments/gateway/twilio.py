"""Gateway routes for Twilio: inbound SMS (STOP/START/HELP/replies) and delivery receipts.

Configure in the Twilio console (or on the Messaging Service):
- "A message comes in" webhook: `<PUBLIC_URL>/twilio/inbound` (HTTP POST)
- status callbacks are requested per message by the SMS channel: `<PUBLIC_URL>/twilio/status`

Every request must carry a valid `X-Twilio-Signature`, checked with Twilio's own `RequestValidator`
over the PUBLIC URL (Twilio signs the address it called, not the one this process sees behind a proxy)
and the form parameters. A bad signature gets a generic 403 and nothing is stored. The body is read
under GATEWAY_MAX_BODY_BYTES (413 as soon as it is larger, before it is read whole or checked).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse

from deployments.gateway.body import BodyTooLarge, ClientDisconnected, read_request_body
from tasks.phone import mask_phone
from tasks.settings import Settings, is_placeholder
from tasks.store.db import unit_of_work
from tasks.store.optouts import InboundAction, record_inbound, update_delivery_status

logger = logging.getLogger(__name__)

router = APIRouter()

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
TWIML_MEDIA_TYPE = "application/xml"


def _forbidden() -> Response:
    return Response("Forbidden", status_code=403, media_type="text/plain")


def public_url_for(settings: Settings, request: Request) -> str:
    """The URL Twilio called: PUBLIC_URL + this path (+ the query string Twilio signed with it)."""
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def _too_large() -> Response:
    return Response("Request body too large", status_code=413, media_type="text/plain")


async def _verified_form(request: Request) -> MultiDict | Response:
    """The form parameters when the request is signed by Twilio, else the refusal (the reason is logged)."""
    settings: Settings = request.app.state.settings
    limit = settings.gateway_max_body_bytes
    try:
        body = await read_request_body(request, limit)
    except BodyTooLarge:
        logger.warning("Twilio webhook %s rejected: body larger than %d bytes", request.url.path, limit)
        return _too_large()
    except ClientDisconnected:
        return _forbidden()
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if is_placeholder(token):
        logger.warning("Twilio webhook %s rejected: TWILIO_AUTH_TOKEN is not set", request.url.path)
        return _forbidden()
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        logger.warning("Twilio webhook %s rejected: no %s header", request.url.path, SIGNATURE_HEADER)
        return _forbidden()
    try:
        params = MultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        logger.warning("Twilio webhook %s rejected: body is not UTF-8 form data", request.url.path)
        return _forbidden()
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = RequestValidator(token)
    if not validator.validate(public_url_for(settings, request), params, signature, algorithm):
        logger.warning(
            "Twilio webhook %s rejected: signature does not match (is PUBLIC_URL the address Twilio calls?)",
            request.url.path,
        )
        return _forbidden()
    return params


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
async def twilio_inbound(request: Request) -> Response:
    """An SMS a customer sent: STOP/START/HELP keywords and replies. Answers TwiML."""
    params = await _verified_form(request)
    if isinstance(params, Response):
        return params
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
async def twilio_status(request: Request) -> Response:
    """A delivery receipt for a message we sent: updates its Delivery row."""
    params = await _verified_form(request)
    if isinstance(params, Response):
        return params
    engine: Engine = request.app.state.engine
    sid = str(params.get("MessageSid") or params.get("SmsSid") or "")
    status = str(params.get("MessageStatus") or params.get("SmsStatus") or "")
    error_code = str(params.get("ErrorCode") or "") or None
    if not sid or not status:
        return Response(status_code=204)

    def store() -> bool:
        with unit_of_work(engine) as session:
            return update_delivery_status(session, provider_message_id=sid, status=status, error_code=error_code)

    changed = await run_in_threadpool(store)
    logger.info(
        "Twilio status for %s: %s%s (%s)",
        sid,
        status,
        f" {error_code}" if error_code else "",
        "recorded" if changed else "no change",
    )
    return Response(status_code=204)
