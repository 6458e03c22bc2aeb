"""The schema and the one generic field resolver that serves every type.

The schema is ``build_client_schema`` of Jobber's introspection (2025-04-16) copied into
``tasks/jobber/schema``. The generic resolver reads the snake_case attribute of a record (or the key of
a dict), turns lists into Relay connections where the schema says so, formats date-times as
``YYYY-MM-DDTHH:MM:SSZ``, and fills any non-null field the sandbox does not model with a neutral value,
so no selection fails on non-null. Root fields and mutations register explicit resolvers with
``resolves`` (``queries``, ``mutations``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_client_schema,
    get_named_type,
)

from ..cost import is_connection_type
from ..ids import decode_cursor, encode_cursor, encode_id
from ..store import SandboxStore, iso, now_s
from ..store.values import snake

if TYPE_CHECKING:
    Info = GraphQLResolveInfo[Any]
else:
    Info = GraphQLResolveInfo


SCHEMA_VERSION = "2025-04-16"
THROTTLE_DOCS = "https://developer.getjobber.com/docs/using_jobbers_api/api_rate_limits"
VERSION_HEADER = "x-jobber-graphql-version"
MISSING: Any = object()


def schema_path() -> Path:
    """The schema the sandbox serves: the one bundled with jobberflow (the version the client speaks)."""
    root = Path(__file__).resolve().parents[3]
    return root / "tasks" / "jobber" / "schema" / f"schema-{SCHEMA_VERSION}.introspection.json"


@lru_cache(maxsize=2)
def _load_schema(path: str) -> GraphQLSchema:
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    return build_client_schema(raw.get("data", raw))


def load_schema() -> GraphQLSchema:
    return _load_schema(str(schema_path()))


# -- generic resolution -------------------------------------------------------------------------


def _lookup(source: Any, name: str) -> Any:
    if source is None:
        return MISSING
    if isinstance(source, dict):
        return source.get(name, MISSING)
    attr = snake(name)
    value = getattr(source, attr, MISSING)
    if value is MISSING:
        value = getattr(source, attr + "_", MISSING)
    return value


_SCALAR_DEFAULTS: dict[str, Callable[[], Any]] = {
    "String": lambda: "",
    "Boolean": lambda: False,
    "Int": lambda: 0,
    "Float": lambda: 0.0,
    "ID": lambda: encode_id("Placeholder", 0),
    "EncodedId": lambda: encode_id("Placeholder", 0),
    "ISO8601DateTime": lambda: iso(now_s()),
    "ISO8601Date": lambda: now_s().date().isoformat(),
    "Minutes": lambda: 0,
}


def default_for(type_: Any, schema: GraphQLSchema) -> Any:
    """A neutral value for a field the sandbox does not model (None when nullable)."""
    if not isinstance(type_, GraphQLNonNull):
        return None
    inner = type_.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLScalarType):
        return _SCALAR_DEFAULTS.get(inner.name, lambda: "")()
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLObjectType):
        if is_connection_type(inner):
            return make_connection([], {}, inner, 100)
        return {"__typename": inner.name}
    if isinstance(inner, GraphQLInterfaceType | GraphQLUnionType):
        possible = schema.get_possible_types(inner)
        return {"__typename": possible[0].name if possible else inner.name}
    return None


def make_connection(items: list[Any], args: Mapping[str, Any], type_: Any, max_page: int) -> dict[str, Any]:
    total = len(items)
    after = decode_cursor(args.get("after"))
    before = decode_cursor(args.get("before"))
    start = after + 1 if after is not None else 0
    end = min(before, total) if before is not None else total
    first, last = args.get("first"), args.get("last")
    if first is not None:
        stop = min(end, start + max(0, min(int(first), max_page)))
    elif last is not None:
        start = max(start, end - max(0, min(int(last), max_page)))
        stop = end
    else:
        stop = min(end, start + max_page)
    start = max(0, min(start, total))
    stop = max(start, stop)
    page = items[start:stop]
    edges = [{"cursor": encode_cursor(start + i), "node": node} for i, node in enumerate(page)]
    return {
        "__typename": get_named_type(type_).name,
        "nodes": page,
        "edges": edges,
        "totalCount": total,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": stop < end,
            "hasPreviousPage": start > 0,
        },
    }


@dataclass
class GqlContext:
    store: SandboxStore
    schema: GraphQLSchema
    claims: dict[str, Any] = field(default_factory=dict)
    after_execute: list[Callable[[], None]] = field(default_factory=list)


Resolver = Callable[..., Any]
RESOLVERS: dict[tuple[str, str], Resolver] = {}


def resolves(type_name: str, *fields: str) -> Callable[[Resolver], Resolver]:
    def deco(fn: Resolver) -> Resolver:
        for f in fields:
            RESOLVERS[(type_name, f)] = fn
        return fn

    return deco


def field_resolver(source: Any, info: Info, **args: Any) -> Any:
    custom = RESOLVERS.get((info.parent_type.name, info.field_name))
    value = custom(source, info, **args) if custom is not None else _lookup(source, info.field_name)
    if value is MISSING or value is None:
        return default_for(info.return_type, info.schema)
    if isinstance(value, list) and is_connection_type(info.return_type):
        ctx: GqlContext = info.context
        return make_connection(value, args, info.return_type, ctx.store.cfg.max_page_size)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def type_resolver(value: Any, info: Info, abstract_type: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("__typename")
    else:
        name = getattr(value, "typename", None)
    if name and info.schema.get_type(name) is not None:
        possible = {t.name for t in info.schema.get_possible_types(abstract_type)}
        if name in possible or not possible:
            return str(name)
        if possible:
            return sorted(possible)[0]
    possible_types = info.schema.get_possible_types(abstract_type)
    return possible_types[0].name if possible_types else None


def gql_context(info: Info) -> GqlContext:
    ctx: GqlContext = info.context
    return ctx
