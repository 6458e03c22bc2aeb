"""Jobber's schema, bundled and pulled: load it, check the project's documents against it, fetch a live one.

Jobber retires API versions after 12-18 months. `pull_schema()` downloads the live schema of a version
by introspection (gql over httpx, with the user's token), stores it beside the bundled one as
`schema-<version>.introspection.json`, and `check_documents()` re-validates every document the project
sends against it, so moving to a new version is a reviewed change, not a surprise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, build_client_schema, get_introspection_query, parse, validate

SCHEMA_DIR = Path(__file__).with_name("schema")
BUNDLED_VERSION = "2025-04-16"


def schema_path(version: str, directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"schema-{version}.introspection.json"


def available_versions() -> list[str]:
    return sorted(
        p.name[len("schema-") : -len(".introspection.json")] for p in SCHEMA_DIR.glob("schema-*.introspection.json")
    )


@cache
def load_schema(version: str = BUNDLED_VERSION, directory: Path = SCHEMA_DIR) -> GraphQLSchema:
    """The stored schema of `version` (the bundled 2025-04-16 one unless another was pulled)."""
    path = schema_path(version, directory)
    if not path.exists():
        raise FileNotFoundError(
            f"No stored schema for Jobber API version {version}; run `jobberflow schema pull --version {version}`."
        )
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return build_client_schema(raw.get("data", raw))


@dataclass(frozen=True)
class DocumentProblem:
    name: str
    message: str


def check_documents(schema: GraphQLSchema) -> list[DocumentProblem]:
    """Validate every document in tasks/jobber/documents/ (with its fragments) against `schema`."""
    from tasks.jobber.documents import all_documents

    problems: list[DocumentProblem] = []
    for name, text in sorted(all_documents().items()):
        try:
            errors = validate(schema, parse(text))
        except Exception as exc:  # noqa: BLE001 - a syntax error is a finding, not a crash
            problems.append(DocumentProblem(name, f"does not parse: {exc}"))
            continue
        problems.extend(DocumentProblem(name, error.message) for error in errors)
    return problems


def pull_schema(
    *,
    graphql_url: str,
    api_version: str,
    access_token: str,
    transport: Any | None = None,
    timeout: float = 60.0,
    directory: Path = SCHEMA_DIR,
) -> Path:
    """Download the live schema of `api_version` by introspection and store it; returns the file written."""
    from gql import Client, gql
    from gql.transport.httpx import HTTPXTransport

    kwargs: dict[str, Any] = {"timeout": timeout}
    if transport is not None:
        kwargs["transport"] = transport
    http = HTTPXTransport(
        url=graphql_url,
        headers={"Authorization": f"Bearer {access_token}", "X-JOBBER-GRAPHQL-VERSION": api_version},
        **kwargs,
    )
    with Client(transport=http, fetch_schema_from_transport=False) as session:
        result = session.execute(gql(get_introspection_query(descriptions=True)))
    build_client_schema(result)  # refuse to store something that is not a schema
    path = schema_path(api_version, directory)
    path.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    load_schema.cache_clear()
    return path
