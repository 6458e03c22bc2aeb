"""Gateway routes: `GET /healthz` (liveness + database) and `GET /metrics` (Prometheus text)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.responses import Response

from deployments.gateway.metrics import CONTENT_TYPE_LATEST, metrics_for, render
from tasks.store import inbox

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


def _database_ok(engine: Any) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - reported as "db": "error"
        log.warning("health check: database unreachable", exc_info=True)
        return False


@router.get("/healthz", summary="Liveness and database check")
async def healthz(request: Request) -> JSONResponse:
    """200 {"status": "ok", "db": "ok", ...} when the database answers, else 503."""
    state = request.app.state
    db_ok = await asyncio.to_thread(_database_ok, state.engine)
    body: dict[str, Any] = {"status": "ok" if db_ok else "error", "db": "ok" if db_ok else "error"}
    writer = getattr(state, "inbox_writer", None)
    if writer is not None:
        body["inbox_writer"] = {"queued": writer.queued, "batches": writer.stats.batches}
    relay = getattr(state, "relay", None)
    if relay is not None:
        status = relay.status
        body["relay"] = {
            "running": status.running,
            "relayed": status.relayed,
            "consecutive_failures": status.consecutive_failures,
            "last_error": status.last_error,
        }
    metrics_for(request.app).request("healthz", "ok" if db_ok else "error")
    return JSONResponse(body, status_code=200 if db_ok else 503)


def refresh_gauges(app: Any) -> None:
    """Read the inbox backlog and relay lag from the database into the gauges."""
    metrics = metrics_for(app)
    try:
        pending = inbox.backlog(app.state.engine)
    except Exception:  # noqa: BLE001 - a scrape must not fail because the database hiccups
        log.warning("metrics: inbox backlog unavailable", exc_info=True)
        return
    metrics.inbox_backlog.set(pending.count)
    metrics.relay_lag_seconds.set(pending.lag_seconds())
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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    await asyncio.to_thread(refresh_gauges, request.app)
    return Response(content=render(request.app), media_type=CONTENT_TYPE_LATEST)
