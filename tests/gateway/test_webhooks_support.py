"""Builders shared by the gateway tests (plain functions, no tests here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from tasks.settings import Settings

SECRET = "client-secret-for-tests-7f3a"  # noqa: S105 - a test value
T = TypeVar("T")


def signature(body: bytes, secret: str = SECRET) -> str:
    """Jobber's algorithm, written out independently of tasks.jobber.webhooks.sign."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_body(
    topic: str = "JOB_CLOSED",
    *,
    item_id: str = "Z2lkOi8vSm9iYmVyL0pvYi8xMjM=",
    account_id: str = "Z2lkOi8vSm9iYmVyL0FjY291bnQvMQ==",
    occurred_at: str = "2025-01-24T15:30:00-06:00",
    legacy: bool = False,
    app_id: str = "2a4a1a6e-bb7e-4c7a-8d0a-1f0f1d9b8e01",
) -> bytes:
    """A body in Jobber's exact shape (compact JSON, as Jobber and the sandbox send it)."""
    event = {
        "topic": topic,
        "appId": app_id,
        "accountId": account_id,
        "itemId": item_id,
        ("occuredAt" if legacy else "occurredAt"): occurred_at,
    }
    return json.dumps({"data": {"webHookEvent": event}}, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Jobber-Hmac-SHA256": signature(body, secret)}


def make_settings(db_url: str, **overrides: Any) -> Settings:
    # A generous store deadline: on a loaded test machine a commit can stall past the production 0.5 s, and
    # these tests post without Jobber's retries. tests/gateway/test_store_deadline.py tests the real one.
    values: dict[str, Any] = {"jobber_client_secret": SECRET, "database_url": db_url, "gateway_store_deadline_s": 5.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_gateway(db_url: str, **overrides: Any) -> FastAPI:
    from deployments.gateway.app import create_app
    from tasks.store.db import get_engine

    return create_app(make_settings(db_url, **overrides), engine=get_engine(db_url), relay=False)


def close_gateway(app: FastAPI) -> None:
    writer = getattr(app.state, "inbox_writer", None)
    if writer is not None:
        writer.close()


async def _with_client(app: FastAPI, fn: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        return await fn(client)


def call(app: FastAPI, fn: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run `fn(client)` against the app in a fresh event loop (requests inside may run concurrently)."""
    import asyncio

    return asyncio.run(_with_client(app, fn))


def post(
    app: FastAPI, body: bytes, headers: dict[str, str] | None = None, path: str = "/webhooks/jobber"
) -> httpx.Response:
    async def go(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(path, content=body, headers=headers or {})

    return call(app, go)


def inbox_rows(db_url: str) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from tasks.store.db import get_engine
    from tasks.store.models import WebhookInbox

    with get_engine(db_url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(WebhookInbox.__table__).order_by(WebhookInbox.id))]
