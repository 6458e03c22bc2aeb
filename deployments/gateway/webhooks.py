"""Gateway routes: Jobber webhooks (`POST /webhooks/jobber`, and the setup guide's `/webhooks/jobber/webhooks`).

The recipe: read the raw body under a size cap (413 before it is read whole), verify
X-Jobber-Hmac-SHA256 against every configured secret (deployments/gateway/inbound.py: the gateway's one
refusal, a generic 401, reason logged without secrets, nothing stored), parse (400 when malformed), store
in the inbox deduplicated on (accountId, topic, itemId, occurredAt) and answer 200 only once that write is
committed, or 503 when it is not committed within GATEWAY_STORE_DEADLINE_S (0.5 s: Jobber wants an answer
within 1 s, and delivers a 503'd webhook again). Duplicates and topics we do not act on are acknowledged
too. APP_DISCONNECT also drops the account's tokens.
Prefect hears about stored rows from the relay (deployments/gateway/relay.py), never from this request.

The route is deliberately lean (no pydantic on the hot path): Jobber disables an app whose endpoint
is slow, and the group commit (tasks/store/inbox_writer.py) is what makes many concurrent requests cheap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from deployments.gateway.inbound import JOBBER_SIGNATURE, REFUSALS, Inbound, read_body, refused_by, verifiers_for
from deployments.gateway.metrics import metrics_for
from tasks.errors import BodyTooLarge, ClientDisconnected, InboxUnavailable
from tasks.events.routing import initial_state
from tasks.jobber.webhooks import SIGNATURE_HEADER, JobberWebhook, parse_event
from tasks.store.inbox import InboxRow
from tasks.store.inbox_writer import InboxWriter

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

PATHS = ("/webhooks/jobber", "/webhooks/jobber/webhooks")
_SIGNATURE_HEADER_LOWER = JOBBER_SIGNATURE.encode("latin-1")

_JSON = "application/json"
_STORED = b'{"status":"stored"}'
_DUPLICATE = b'{"status":"duplicate"}'
_MALFORMED = b'{"detail":"malformed webhook"}'
_UNAVAILABLE = b'{"detail":"temporarily unavailable, retry later"}'


def inbox_writer(app: Any) -> InboxWriter:
    """The app's group-commit writer (created on first use; the lifespan closes it)."""
    writer: InboxWriter | None = getattr(app.state, "inbox_writer", None)
    if writer is None:
        metrics = metrics_for(app)

        def on_batch(rows: int, seconds: float) -> None:
            metrics.inbox_batches.inc()
            metrics.inbox_batch_rows.observe(rows)
            metrics.inbox_commit_seconds.observe(seconds)

        writer = InboxWriter(
            app.state.engine, on_batch=on_batch, deadline_s=app.state.settings.gateway_store_deadline_s
        )
        app.state.inbox_writer = writer
    return writer


async def ingest(
    app: Any, *, receive: Receive, content_length: bytes | str | None, signature: str | None, client: str
) -> tuple[int, bytes]:
    """Verify, store durably (deduplicated) and acknowledge one Jobber webhook: (HTTP status, JSON body).

    Shared by the FastAPI route and the ASGI fast path (`fast_path`), so both answer the same.
    """
    started = time.perf_counter()
    metrics = metrics_for(app)

    def answer(status: int, body: bytes, outcome: str) -> tuple[int, bytes]:
        metrics.request("jobber_webhook", outcome, seconds=time.perf_counter() - started)
        return status, body

    limit = app.state.settings.gateway_max_body_bytes
    try:
        body = await read_body(receive, content_length, limit)
    except BodyTooLarge:
        log.warning("Jobber webhook refused: body larger than %d bytes", limit)
        return answer(413, REFUSALS[413], "too_large")
    except ClientDisconnected:
        return answer(400, REFUSALS[400], "disconnected")

    inbound = Inbound(body=body, headers={JOBBER_SIGNATURE: signature} if signature else {})
    refused = refused_by(verifiers_for(app).jobber, inbound, where=f"the webhook endpoint (from {client})")
    if refused is not None:
        return answer(refused, REFUSALS[refused], "unauthorized")

    try:
        webhook = parse_event(body)
        text = body.decode("utf-8")
    except ValueError as exc:
        log.warning("Signed Jobber webhook refused as malformed: %s", exc)
        return answer(400, _MALFORMED, "malformed")

    row = InboxRow(
        dedupe_key=webhook.dedupe_key,
        account_id=webhook.account_id,
        topic=webhook.topic,
        item_id=webhook.item_id,
        occurred_at=webhook.occurred_at,
        body=text,
        received_at=datetime.now(UTC),
        work_state=initial_state(webhook.topic),
    )
    try:
        stored = await inbox_writer(app).store(row)
    except InboxUnavailable as exc:
        log.error("Jobber webhook %s not stored: %s", webhook.topic, exc)
        return answer(503, _UNAVAILABLE, "unavailable")

    if webhook.topic == "APP_DISCONNECT":
        await _disconnect(app, webhook)
    if stored:
        return answer(200, _STORED, "stored")
    return answer(200, _DUPLICATE, "duplicate")


async def receive_jobber_webhook(request: Request) -> Response:
    """Verify, store durably (deduplicated) and acknowledge one Jobber webhook."""
    status, body = await ingest(
        request.app,
        receive=request.receive,
        content_length=request.headers.get("content-length"),
        signature=request.headers.get(SIGNATURE_HEADER),
        client=request.client.host if request.client else "?",
    )
    return Response(content=body, status_code=status, media_type=_JSON)


def fast_path(app: Any) -> Callable[[Scope, Receive, Send], Awaitable[bool]]:
    """An ASGI shortcut for `POST` to the webhook paths that skips routing, middleware and dependency solving.

    `await shortcut(scope, receive, send)` answers the request and returns True, or returns False
    (not a webhook request) so the caller hands it to the full app. Answers are those of the route.
    """
    paths = frozenset(PATHS)

    async def shortcut(scope: Scope, receive: Receive, send: Send) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in paths:
            return False
        content_length: bytes | None = None
        signature: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = value
            elif name == _SIGNATURE_HEADER_LOWER:
                signature = value
        client = scope.get("client")
        try:
            status, body = await ingest(
                app,
                receive=receive,
                content_length=content_length,
                signature=signature.decode("latin-1") if signature is not None else None,
                client=client[0] if client else "?",
            )
        except Exception:  # noqa: BLE001 - answer 503 (Jobber retries), never a stack trace
            log.exception("Jobber webhook failed unexpectedly")
            status, body = 503, _UNAVAILABLE
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True

    return shortcut


async def _disconnect(app: Any, webhook: JobberWebhook) -> None:
    """APP_DISCONNECT: the tokens are dead. The event is already stored, so a failure here is only logged."""
    try:
        key = await asyncio.to_thread(apply_disconnect, app.state.engine, webhook)
    except Exception:  # noqa: BLE001 - the webhook is stored; Jobber must still get its 200
        log.exception("APP_DISCONNECT stored but the account could not be marked disconnected")
        return
    if key is not None:
        log.warning("Jobber app disconnected for account %s: tokens deleted, reconnect needed", key)


def apply_disconnect(engine: Any, webhook: JobberWebhook) -> str | None:
    """Mark the account of `webhook` disconnected and delete its tokens; the account key, or None if skipped.

    Only the Jobber account this installation is pinned to counts (tasks.jobber.auth.apply_app_disconnect).
    """
    from tasks.jobber.auth import apply_app_disconnect

    return apply_app_disconnect(engine, jobber_account_id=webhook.account_id, occurred_at=webhook.occurred_at)


_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            _JSON: {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "object",
                            "required": ["webHookEvent"],
                            "properties": {
                                "webHookEvent": {
                                    "type": "object",
                                    "required": ["topic", "accountId", "itemId", "occurredAt"],
                                    "properties": {
                                        "topic": {"type": "string", "example": "JOB_CLOSED"},
                                        "appId": {"type": "string"},
                                        "accountId": {"type": "string"},
                                        "itemId": {"type": "string"},
                                        "occurredAt": {"type": "string", "example": "2025-01-24T15:30:00-06:00"},
                                    },
                                }
                            },
                        }
                    },
                }
            }
        },
    },
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "base64(HMAC-SHA256(raw body, client secret))",
            "schema": {"type": "string"},
        }
    ],
    "responses": {
        "200": {"description": "Stored (or already stored): acknowledged"},
        "400": {"description": "Signed, but not a Jobber webhook"},
        "401": {"description": "Missing or wrong signature"},
        "413": {"description": "Body larger than GATEWAY_MAX_BODY_BYTES"},
        "503": {"description": "The inbox could not store it now; Jobber retries"},
    },
}

for _path in PATHS:
    router.add_api_route(
        _path,
        receive_jobber_webhook,
        methods=["POST"],
        response_class=Response,
        summary="Receive a Jobber webhook",
        openapi_extra=_OPENAPI,
        name=f"jobber_webhook{_path.replace('/', '_')}",
    )
