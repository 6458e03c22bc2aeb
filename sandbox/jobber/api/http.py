"""The HTTP contract of ``POST /api/graphql``: auth, the version header, the request limit, query cost
and throttling, then execution with the generic resolver.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLError,
    OperationType,
    execute_sync,
    parse,
    validate,
)
from graphql.language import FieldNode

from ..cost import actual_cost, find_operation, requested_cost
from ..store import SandboxStore
from .resolution import (
    SCHEMA_VERSION,
    THROTTLE_DOCS,
    VERSION_HEADER,
    GqlContext,
    field_resolver,
    load_schema,
    type_resolver,
)

log = logging.getLogger(__name__)


# -- HTTP contract ------------------------------------------------------------------------------
@dataclass
class GraphQLHTTPResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _cost_ext(store: SandboxStore, requested: int, actual: int) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": store.bucket.throttle_status(),
        }
    }


def _error_body(
    store: SandboxStore,
    message: str,
    requested: int = 0,
    code: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message}
    if code is not None:
        err["extensions"] = {"code": code, **(extra or {})}
    return {"errors": [err], "extensions": _cost_ext(store, requested, 0)}


def _root_fields(operation: Any) -> list[str]:
    return [sel.name.value for sel in operation.selection_set.selections if isinstance(sel, FieldNode)]


def handle_graphql(store: SandboxStore, headers: Mapping[str, str], raw_body: bytes) -> GraphQLHTTPResponse:
    """Answer one POST /api/graphql the way Jobber does. ``headers`` keys must be lower-case."""
    store.bump("graphql_requests")
    auth = headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    claims = store.tokens.verify(token) if token else None
    if claims is None:
        store.bump("unauthorized")
        return GraphQLHTTPResponse(401, {"message": "Unauthorized"})
    version = headers.get(VERSION_HEADER, "").strip()
    if not version:
        return GraphQLHTTPResponse(
            400,
            {
                "message": "Missing required header X-JOBBER-GRAPHQL-VERSION "
                "(for example X-JOBBER-GRAPHQL-VERSION: 2025-04-16)."
            },
        )
    store.versions_seen[version] += 1
    account_key = str(claims.get("account_id") or store.account_id)
    wait = store.limiter.check(account_key)
    if wait is not None:
        store.bump("rate_limited_429")
        resp_headers = {"Retry-After": str(max(1, math.ceil(wait)))} if store.cfg.retry_after else {}
        return GraphQLHTTPResponse(
            429,
            {
                "message": "Too Many Requests: rate limit exceeded "
                f"({store.cfg.request_limit} requests per "
                f"{int(store.cfg.request_window_s)} s)"
            },
            resp_headers,
        )
    try:
        payload = json.loads(raw_body or b"{}")
    except ValueError:
        return GraphQLHTTPResponse(400, {"message": "Request body must be JSON"})
    if not isinstance(payload, dict):
        return GraphQLHTTPResponse(400, {"message": "Request body must be a JSON object"})
    try:
        body = _execute(store, claims, payload)
    except Exception:  # a sandbox bug must not look like a Jobber answer
        log.exception("sandbox failed to execute a GraphQL request")
        return GraphQLHTTPResponse(500, {"message": "Internal server error"})
    if version < SCHEMA_VERSION:
        body.setdefault("extensions", {})["versioning"] = {
            "warning": f"API version {version} is deprecated and will stop working soon; upgrade to {SCHEMA_VERSION}.",
        }
    return GraphQLHTTPResponse(200, body)


def _execute(store: SandboxStore, claims: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    schema = load_schema()
    query = payload.get("query")
    variables = payload.get("variables") or {}
    operation_name = payload.get("operationName") or None
    if not isinstance(query, str) or not query.strip():
        return _error_body(store, "No query string was present")
    if not isinstance(variables, dict):
        return _error_body(store, "Variables must be a JSON object")
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"errors": [exc.formatted], "extensions": _cost_ext(store, 0, 0)}
    errors = validate(schema, document)
    if errors:
        return {"errors": [e.formatted for e in errors], "extensions": _cost_ext(store, 0, 0)}
    operation = find_operation(document, operation_name)
    if operation is None:
        msg = (
            f"Unknown operation named '{operation_name}'."
            if operation_name
            else "Must provide operation name if query contains multiple operations."
        )
        return _error_body(store, msg)
    requested = requested_cost(schema, document, operation, variables)
    if requested > store.bucket.maximum:
        # Jobber documents one answer for a query over budget, also when it can never fit: THROTTLED. Only
        # extensions.cost (requestedQueryCost > maximumAvailable) tells the two apart.
        store.bump("max_cost_exceeded")
        return _error_body(store, "Throttled", requested, "THROTTLED", {"documentation": THROTTLE_DOCS})
    if requested > store.bucket.available():
        store.bump("throttled")
        return _error_body(store, "Throttled", requested, "THROTTLED", {"documentation": THROTTLE_DOCS})
    roots = _root_fields(operation)
    is_mutation = operation.operation == OperationType.MUTATION
    ctx = GqlContext(store=store, schema=schema, claims=claims)
    with store.lock:
        for root in roots:
            if is_mutation:
                store.stats.mutations += 1
                store.stats.mutations_by_root_field[root] += 1
            else:
                store.stats.queries_by_root_field[root] += 1
        result = execute_sync(
            schema,
            document,
            root_value=None,
            context_value=ctx,
            variable_values=variables,
            operation_name=operation_name,
            field_resolver=field_resolver,
            type_resolver=type_resolver,
        )
    data = result.data
    actual = actual_cost(schema, document, operation, variables, data)
    store.bucket.consume(actual)
    store.bump("points_charged", int(actual))
    for hook in ctx.after_execute:
        hook()
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    body["data"] = data
    body["extensions"] = _cost_ext(store, requested, actual)
    return body
