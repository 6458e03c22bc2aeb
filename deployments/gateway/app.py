"""The gateway's ASGI app. Each area of the gateway is a router in its own module of this package.

State shared by the routers lives on `app.state`: `settings` (tasks.settings.Settings) and `engine`
(the SQLAlchemy engine of DATABASE_URL). Routers read them from `request.app.state`. The webhook inbox
adds `inbox_writer` (the group-commit writer), `relay` (inbox -> Prefect events) and `metrics`
(deployments.gateway.metrics.metrics_for).

Every route's request body is limited to GATEWAY_MAX_BODY_BYTES while it is read
(deployments/gateway/inbound.py). `/docs` and `/openapi.json` are off unless GATEWAY_API_DOCS=true, and then
behind the admin credentials. A configured ADMIN_TOKEN or METRICS_TOKEN that is too short is reported at
startup (and the routes it guards stay closed).

The lifespan starts the relay as a background task and, on shutdown, stops it and flushes the inbox
writer. Set JOBBERFLOW_GATEWAY_RELAY=off (or pass relay=False) for a gateway that only ingests, for
example the workers of a multi-process gateway whose relay runs elsewhere (deployments/gateway/server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from deployments.gateway.inbound import BodyLimitMiddleware
from tasks.settings import Settings, get_settings, secret_text

log = logging.getLogger(__name__)

RELAY_ENV = "JOBBERFLOW_GATEWAY_RELAY"


class GatewayApp(FastAPI):
    """FastAPI with a shortcut for `POST /webhooks/jobber[/webhooks]`.

    Jobber's webhooks are the one hot path: they are answered by deployments.gateway.webhooks.fast_path
    before routing, middleware and dependency solving (the same code the documented route runs).
    Everything else goes through FastAPI as usual.
    """

    webhook_shortcut: Callable[[Scope, Receive, Send], Awaitable[bool]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        shortcut = self.webhook_shortcut
        if shortcut is not None and scope["type"] == "http" and await shortcut(scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    relay: bool | None = None,
    prefect_api_url: str | None = None,
) -> FastAPI:
    """Build the gateway. Nothing is created at import time; tests pass their own settings and engine.

    `relay` runs the inbox -> Prefect relay in the lifespan (default: JOBBERFLOW_GATEWAY_RELAY, on);
    `prefect_api_url` overrides PREFECT_API_URL for it.
    """
    from deployments.gateway import admin, health, oauth, reviews, slack, twilio, webhooks
    from deployments.gateway.metrics import metrics_for
    from deployments.gateway.relay import Relay
    from deployments.gateway.wakeup import Waker
    from tasks.events.routing import warm as warm_routing
    from tasks.store.db import get_engine

    settings = settings or get_settings()
    run_relay = settings.jobberflow_gateway_relay if relay is None else relay

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if run_relay:
            app.state.relay = Relay(
                app.state.engine,
                api_url=prefect_api_url,
                waker=Waker(app.state.engine, max_in_flight=settings.relay_max_wakeups),
                on_sent=lambda n: metrics_for(app).relay_events.labels(outcome="sent").inc(n),
                on_rejected=lambda n: metrics_for(app).relay_events.labels(outcome="rejected").inc(n),
            )
            task = asyncio.create_task(app.state.relay.run(), name="jobber-relay")
        try:
            yield
        finally:
            if task is not None:
                app.state.relay.stop()
                try:
                    await asyncio.wait_for(task, timeout=15)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            writer = getattr(app.state, "inbox_writer", None)
            if writer is not None:
                await asyncio.to_thread(writer.close)

    # No public API docs: the schema lists every route and parameter. GATEWAY_API_DOCS=true serves them to the admin.
    app = GatewayApp(
        title="jobberflow gateway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.gateway_max_body_bytes)
    _report_short_tokens(settings)
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.resolved_database_url)
    app.state.relay = None
    metrics_for(app)
    webhooks.inbox_writer(app)  # its thread starts on the first webhook
    warm_routing()  # which topics cause work: decided on the hot path, loaded here
    app.webhook_shortcut = webhooks.fast_path(app)
    for module in (health, webhooks, oauth, slack, twilio, reviews, admin):
        app.include_router(module.router)
    if settings.gateway_api_docs:
        _add_admin_docs(app)
    return app


def _report_short_tokens(settings: Settings) -> None:
    """Say at startup, naming the variable, when a configured bearer token is refused for being too short."""
    for field, consequence in (
        ("admin_token", "The admin page, /auth/jobber/connect and the API docs stay closed until it is fixed."),
        ("metrics_token", "/metrics does not accept it until it is fixed."),
    ):
        if secret_text(getattr(settings, field)) is None:
            continue
        problem = settings.token_problem(field)
        if problem is not None:
            log.error("%s %s", problem, consequence)


def _add_admin_docs(app: FastAPI) -> None:
    """`GET /openapi.json` and `GET /docs` (Swagger UI), for the admin only."""
    from deployments.gateway.admin import SECURITY_HEADERS, deny

    async def openapi(request: Request) -> Response:
        denied = deny(request, as_json=True, what="The API docs")
        return denied or JSONResponse(app.openapi(), headers=SECURITY_HEADERS)

    async def docs(request: Request) -> Response:
        denied = deny(request, as_json=False, what="The API docs")
        return denied or get_swagger_ui_html(openapi_url="/openapi.json", title="jobberflow gateway: API")

    app.add_api_route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
