"""The gateway's ASGI app. Each area of the gateway is a router in its own module of this package.

State shared by the routers lives on `app.state`: `settings` (tasks.settings.Settings) and `engine`
(the SQLAlchemy engine of DATABASE_URL). Routers read them from `request.app.state`.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from tasks.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the gateway. Nothing is created at import time; tests pass their own settings and engine."""
    from deployments.gateway import admin, health, oauth, reviews, slack, twilio, webhooks
    from tasks.store.db import get_engine

    settings = settings or get_settings()
    app = FastAPI(title="jobberflow gateway", version="0.1.0")
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.resolved_database_url)
    for module in (health, webhooks, oauth, slack, twilio, reviews, admin):
        app.include_router(module.router)
    return app
