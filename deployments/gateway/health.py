"""Gateway routes: `GET /healthz` (liveness + database) and `GET /metrics` (Prometheus text).

`/healthz` is public on purpose: it says "ok" or "error" and a few counters, nothing about the data, so a
load balancer or uptime monitor can call it without credentials. `/metrics` describes the business
(webhook volume, backlog, Jobber budget, Slack outbox), so it needs `Authorization: Bearer <METRICS_TOKEN>`
(what Prometheus sends with `authorization: {credentials: ...}`) or the admin credentials. Anything else
gets 401; with neither METRICS_TOKEN nor ADMIN_TOKEN usable, the 401 says which variable to set. A token
shorter than 16 characters is refused like ADMIN_TOKEN.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.responses import Response

from deployments.gateway.admin import SECURITY_HEADERS, check_credentials, is_admin
from deployments.gateway.metrics import CONTENT_TYPE_LATEST, metrics_for, render
from tasks.settings import MIN_TOKEN_LENGTH, Settings
from tasks.store import inbox

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


def _database_ok(engine: Any) -> tuple[bool, int | None]:
    """(the database answers, inbox rows set aside because Prefect refused their events for good)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - reported as "db": "error"
        log.warning("health check: database unreachable", exc_info=True)
        return False, None
    try:
        return True, inbox.relay_rejections(engine)
    except Exception:  # noqa: BLE001 - an older schema: the count is left out, the gateway is still up
        log.warning("health check: relay rejections unavailable", exc_info=True)
        return True, None


# What /healthz reports of the inbox writer's stats (besides its queue) and of the relay's status.
_WRITER_REPORTED = ("batches", "unavailable", "deadline_missed")
_RELAY_REPORTED = (
    "running",
    "relayed",
    "consecutive_failures",
    "last_error",
    "wakeups",
    "last_wakeup_error",
    "rejected",
)


def _reported(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The attributes `names` of `source` as they stand now, by name."""
    return {name: getattr(source, name) for name in names}


@router.get("/healthz", summary="Liveness and database check")
async def healthz(request: Request) -> JSONResponse:
    """200 {"status": "ok", "db": "ok", ...} when the database answers, else 503."""
    state = request.app.state
    db_ok, set_aside = await asyncio.to_thread(_database_ok, state.engine)
    body: dict[str, Any] = {"status": "ok" if db_ok else "error", "db": "ok" if db_ok else "error"}
    if set_aside is not None:
        # rows whose event Prefect refused for good (4xx): they no longer block the relay; see their last_error
        body["relay_set_aside"] = set_aside
    writer = getattr(state, "inbox_writer", None)
    if writer is not None:
        body["inbox_writer"] = {"queued": writer.queued, **_reported(writer.stats, _WRITER_REPORTED)}
    relay = getattr(state, "relay", None)
    if relay is not None:
        body["relay"] = _reported(relay.status, _RELAY_REPORTED)
    metrics_for(request.app).request("healthz", "ok" if db_ok else "error")
    return JSONResponse(body, status_code=200 if db_ok else 503)


def refresh_gauges(app: Any) -> None:
    """Read the inbox backlog, relay lag and event work from the database into the gauges."""
    metrics = metrics_for(app)
    try:
        pending = inbox.backlog(app.state.engine)
    except Exception:  # noqa: BLE001 - a scrape must not fail because the database hiccups
        log.warning("metrics: inbox backlog unavailable", exc_info=True)
        return
    metrics.inbox_backlog.set(pending.count)
    metrics.relay_lag_seconds.set(pending.lag_seconds())
    try:
        metrics.relay_set_aside.set(inbox.relay_rejections(app.state.engine))
    except Exception:  # noqa: BLE001 - a scrape must not fail because the database hiccups
        log.warning("metrics: relay rejections unavailable", exc_info=True)
    try:
        from tasks.events.queue import pending_work

        work = pending_work(app.state.engine)
        metrics.event_work.labels("pending").set(work.count)
        metrics.event_work.labels("failed").set(work.failed)
        metrics.event_work_age_seconds.set(work.age_seconds())
    except Exception:  # noqa: BLE001 - a scrape must not fail because the database hiccups
        log.warning("metrics: event work unavailable", exc_info=True)
    try:
        from tasks.jobber.usage import read_usage
        from tasks.slack.outbox import slack_outbox_counts

        for usage in read_usage(app.state.engine):
            if usage.points_available is not None:
                metrics.jobber_points_available.labels(usage.account_key).set(usage.points_available)
            metrics.jobber_throttled.labels(usage.account_key).set(usage.throttled_total)
            metrics.jobber_rate_limited.labels(usage.account_key).set(usage.rate_limited_total)
            metrics.jobber_requests_recorded.labels(usage.account_key).set(usage.requests_total)
        counts = slack_outbox_counts(app.state.engine)
        for status in ("pending", "sent", "failed"):
            metrics.slack_outbox.labels(status).set(getattr(counts, status))
    except Exception:  # noqa: BLE001 - a scrape must not fail because the database hiccups
        log.warning("metrics: Jobber usage or Slack outbox unavailable", exc_info=True)


def _metrics_denied(request: Request) -> Response | None:
    """None when the request may read /metrics, else the 401 answer (saying what to set when nothing is)."""
    settings: Settings = request.app.state.settings
    metrics_problem = settings.token_problem("metrics_token")
    admin_problem = settings.token_problem("admin_token")
    if metrics_problem is not None and admin_problem is not None:
        detail = (
            f"/metrics is disabled: {metrics_problem} {admin_problem} Set METRICS_TOKEN (a random value of at "
            f"least {MIN_TOKEN_LENGTH} characters, sent as Authorization: Bearer) or ADMIN_TOKEN, and restart "
            "the gateway."
        )
        log.warning("Refused /metrics: neither METRICS_TOKEN nor ADMIN_TOKEN is usable")
        return JSONResponse({"detail": detail}, status_code=401, headers=SECURITY_HEADERS)
    authorization = request.headers.get("authorization")
    if metrics_problem is None and settings.metrics_token is not None:
        token = settings.metrics_token.get_secret_value()
        if check_credentials(authorization, token=token, username=settings.admin_username):
            return None
    if is_admin(request):
        return None
    log.info("Refused /metrics: missing or wrong credentials")
    return JSONResponse(
        {"detail": "Send Authorization: Bearer <METRICS_TOKEN> (or the admin credentials)."},
        status_code=401,
        headers={**SECURITY_HEADERS, "WWW-Authenticate": 'Basic realm="jobberflow admin", charset="UTF-8"'},
    )


@router.get("/metrics", summary="Prometheus metrics (METRICS_TOKEN or the admin credentials)", response_class=Response)
async def metrics(request: Request) -> Response:
    denied = _metrics_denied(request)
    if denied is not None:
        metrics_for(request.app).request("metrics", "unauthorized")
        return denied
    await asyncio.to_thread(refresh_gauges, request.app)
    return Response(content=render(request.app), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
