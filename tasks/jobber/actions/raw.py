"""Make.com's "Make an API Call": any GraphQL operation, sent through the same client (auth, pacing,
version header, error mapping). Prefer a ``.graphql`` document and a typed action for anything a flow
relies on: only those are validated against the schema by the contract tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.jobber.client import JobberClient


def make_api_call(
    client: JobberClient,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    operation_name: str | None = None,
) -> dict[str, Any]:
    """Send ``query`` with ``variables`` and return Jobber's ``data``. GraphQL ``errors`` raise typed
    errors; a mutation's ``userErrors`` are returned as data, not raised (the payload name is unknown here)."""
    return client.execute(query, variables, operation_name=operation_name)
