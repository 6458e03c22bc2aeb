"""Jobber's GraphQL API over the sandbox store, executed by graphql-core against the real schema.

* ``resolution``: the schema and the generic field resolver (every type, connections, neutral defaults)
* ``filters``: Jobber's list filters and sort keys
* ``queries`` and ``mutations``: the explicit resolvers, registered on import
* ``http``: ``handle_graphql``, the HTTP contract (auth, version header, request limit, query cost, throttling)
"""

from __future__ import annotations

from . import mutations, queries  # noqa: F401 - registers the root-field and mutation resolvers
from .http import GraphQLHTTPResponse, handle_graphql
from .resolution import SCHEMA_VERSION, load_schema, schema_path

__all__ = ["SCHEMA_VERSION", "GraphQLHTTPResponse", "handle_graphql", "load_schema", "schema_path"]
