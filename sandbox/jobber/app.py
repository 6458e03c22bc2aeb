"""The sandbox's ASGI app (Starlette): Jobber's API endpoints plus /sandbox/* controls.

* ``POST /api/graphql`` - Jobber's GraphQL API (see :mod:`.api`)
* ``GET /api/oauth/authorize``, ``POST /api/oauth/token`` - OAuth (see :mod:`.oauth`)
* ``POST /sandbox/actions/<name>`` - act as a person in Jobber (JSON body -> JSON of the changed object)
* ``GET /sandbox/state``, ``POST /sandbox/config``, ``GET /sandbox/jobs?status=``, ``GET /sandbox/webhooks``
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import oauth
from .api import handle_graphql, load_schema
from .config import SandboxConfig
from .models import Record
from .store import SandboxStore, UserError, brief

log = logging.getLogger(__name__)


def _store(request: Request) -> SandboxStore:
    store: SandboxStore = request.app.state.sandbox
    return store


async def graphql_endpoint(request: Request) -> Response:
    store = _store(request)
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    resp = await run_in_threadpool(handle_graphql, store, headers, body)
    return JSONResponse(resp.body, status_code=resp.status, headers=resp.headers)


def _actions(store: SandboxStore) -> dict[str, Callable[..., Any]]:
    return {
        "create_client": store.create_client,
        "update_client": store.update_client,
        "close_job": store.close_job,
        "reopen_job": store.reopen_job,
        "complete_visit": store.complete_visit,
        "create_invoice": store.create_invoice,
        "mark_invoice_paid": store.mark_invoice_paid,
        "mark_invoice_unpaid": store.mark_invoice_unpaid,
        "approve_quote": store.approve_quote,
        "send_quote": store.send_quote,
        "destroy": store.destroy,
        "disconnect": store.disconnect,
        "touch_random": store.touch_random,
        "issue_tokens": store.issue_tokens,
    }


def _to_json(result: Any) -> Any:
    if isinstance(result, Record):
        return brief(result)
    if isinstance(result, list):
        return [_to_json(r) for r in result]
    if result is None:
        return {"ok": True}
    return result


async def action_endpoint(request: Request) -> Response:
    store = _store(request)
    name = request.path_params["name"]
    fn = _actions(store).get(name)
    if fn is None:
        return JSONResponse({"error": f"unknown action {name!r}", "actions": sorted(_actions(store))}, 404)
    raw = await request.body()
    try:
        params = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    if not isinstance(params, dict):
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    accepted = inspect.signature(fn).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        return JSONResponse({"error": f"unknown parameters: {', '.join(unknown)}", "parameters": sorted(accepted)}, 400)
    try:
        result = await run_in_threadpool(lambda: fn(**params))
    except UserError as exc:
        status = 404 if exc.message.endswith("not found") else 422
        return JSONResponse({"error": exc.message, "path": exc.path}, status)
    except TypeError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return JSONResponse(_to_json(result))


async def state_endpoint(request: Request) -> Response:
    return JSONResponse(_store(request).state())


async def config_endpoint(request: Request) -> Response:
    store = _store(request)
    try:
        params = await request.json()
    except ValueError:
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    if not isinstance(params, dict):
        return JSONResponse({"error": "body must be a JSON object"}, 400)
    try:
        settings = store.configure(**params)
    except UserError as exc:
        return JSONResponse({"error": exc.message}, 400)
    return JSONResponse({"settings": settings})


async def jobs_endpoint(request: Request) -> Response:
    store = _store(request)
    status = request.query_params.get("status") or None
    try:
        limit = int(request.query_params.get("limit", "200"))
    except ValueError:
        limit = 200
    jobs = store.list_jobs(status, limit)
    return JSONResponse(
        {
            "jobs": [
                {
                    "jobNumber": j["jobNumber"],
                    "id": j["id"],
                    "title": j["title"],
                    "client": j["client"],
                    "jobStatus": j["jobStatus"],
                }
                for j in jobs
            ]
        }
    )


async def webhooks_endpoint(request: Request) -> Response:
    store = _store(request)
    return JSONResponse(
        {"log": [e.as_dict() for e in list(store.webhook_log)[-500:]], "pending": store.webhooks.pending}
    )


async def health_endpoint(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(cfg: SandboxConfig | None = None, store: SandboxStore | None = None) -> Starlette:
    """The sandbox ASGI app; ``app.state.sandbox`` is its :class:`SandboxStore`."""
    the_store = store or SandboxStore(cfg or SandboxConfig())
    load_schema()  # parse the schema now, not on the first request

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        the_store.flush_webhooks(2.0)

    app = Starlette(
        routes=[
            Route("/api/graphql", graphql_endpoint, methods=["POST"]),
            Route("/api/oauth/authorize", oauth.authorize, methods=["GET"]),
            Route("/api/oauth/token", oauth.token, methods=["POST"]),
            Route("/sandbox/actions/{name}", action_endpoint, methods=["POST"]),
            Route("/sandbox/state", state_endpoint, methods=["GET"]),
            Route("/sandbox/config", config_endpoint, methods=["POST"]),
            Route("/sandbox/jobs", jobs_endpoint, methods=["GET"]),
            Route("/sandbox/webhooks", webhooks_endpoint, methods=["GET"]),
            Route("/sandbox/health", health_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = the_store
    return app
