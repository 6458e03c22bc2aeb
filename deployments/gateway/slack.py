"""Gateway routes: `POST /slack/commands`, the `/jobber` slash command.

The webhook recipe (deployments/gateway/inbound.py): read the raw body (bounded), verify Slack's v0
signature and timestamp (constant time, five minutes either way), answer the gateway's one refusal and log
the reason otherwise; only then parse the form.
The answer comes from the synced database in a worker thread. Should it take longer than
`app.state.slack_answer_deadline_s` (default 2.5 s, inside Slack's 3 s), Slack gets an ephemeral
"looking…" at once and the answer follows through `response_url`, which must be an https URL on
hooks.slack.com (anything else is refused with 400 before any work). `app.state.slack_http` may hold an
`httpx.AsyncClient` for those follow-ups (tests give one with a mock transport).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from deployments.gateway.inbound import verified_body, verifiers_for
from deployments.gateway.metrics import metrics_for
from tasks.slack.commands import (
    SlashCommand,
    answer_from_database,
    deferred_answer,
    ephemeral,
    is_slack_response_url,
    parse_slash_command,
)

log = logging.getLogger(__name__)

router = APIRouter()

DEFAULT_DEADLINE_S = 2.5
ENDPOINT = "/slack/commands"


async def _post_later(work: asyncio.Future[dict[str, Any]], url: str, http: httpx.AsyncClient | None) -> None:
    """Wait for the slow answer and deliver it through `response_url` (already validated)."""
    try:
        answer = await work
    except Exception:
        log.exception("slack command failed after the placeholder was sent")
        answer = ephemeral("Sorry, that lookup failed. Try again in a moment.")
    client = http or httpx.AsyncClient(timeout=10)
    try:
        response = await client.post(url, json=deferred_answer(answer))
        if response.status_code >= 400:
            log.warning("response_url answered HTTP %s", response.status_code)
    except httpx.HTTPError as exc:
        log.warning("could not post to response_url: %s", type(exc).__name__)
    finally:
        if http is None:
            await client.aclose()


@router.post(ENDPOINT)
async def slack_command(request: Request) -> Response:
    """Answer `/jobber clients|jobs|invoices|help` with an ephemeral Block Kit message."""
    started = time.monotonic()
    response = await _answer(request)
    outcome = {200: "ok", 401: "unauthorized", 400: "bad_request", 413: "too_large"}.get(response.status_code, "error")
    metrics_for(request.app).request(ENDPOINT, outcome, seconds=time.monotonic() - started)
    return response


async def _answer(request: Request) -> Response:
    body = await verified_body(request, verifiers_for(request.app).slack)
    if isinstance(body, Response):
        return body
    command: SlashCommand = parse_slash_command(body)
    if command.ssl_check:
        return Response(status_code=200)
    if command.response_url is not None and not is_slack_response_url(command.response_url):
        log.warning("slack command refused: response_url is not on https://hooks.slack.com")
        return JSONResponse({"error": "invalid response_url"}, status_code=400)

    deadline = float(getattr(request.app.state, "slack_answer_deadline_s", DEFAULT_DEADLINE_S))
    work = asyncio.ensure_future(run_in_threadpool(answer_from_database, request.app.state.engine, command))
    try:
        answer = await asyncio.wait_for(asyncio.shield(work), timeout=deadline)
    except TimeoutError:
        if command.response_url is None:
            work.cancel()
            return JSONResponse(ephemeral("That is taking too long; try again in a moment."))
        http = getattr(request.app.state, "slack_http", None)
        return JSONResponse(
            ephemeral("Looking that up…"),
            background=BackgroundTask(_post_later, work, command.response_url, http),
        )
    except Exception:
        log.exception("slack command %r failed", command.subcommand)
        return JSONResponse(ephemeral("Sorry, that lookup failed. Try again in a moment."))
    return JSONResponse(answer)
