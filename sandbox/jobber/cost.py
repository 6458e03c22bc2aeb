"""Jobber-style query cost, the per-account leaky bucket and the request-count limit.

Cost rules (Jobber documents the first four; the rest are this sandbox's choices):

* every selected field costs 1;
* ``nodes``, ``edges`` and ``node`` cost 0, but what is selected inside them counts;
* a connection field (a type named ``...Connection`` with ``nodes``/``edges``) costs its own 1 plus
  ``first`` x (cost of one node's selection), where one node's selection is everything under ``nodes``
  plus everything under ``edges`` (``cursor`` 1, ``node`` 0 + its children);
  ``last`` is used when ``first`` is absent; with neither the connection is costed as if first=100;
* ``pageInfo`` and its children count normally (once per connection);
* ``totalCount`` costs 1 + ceil(50% of the connection's node cost, i.e. first x per-node cost);
* ``__typename`` and introspection (``__schema``, ``__type``) cost 0;
* a plain list field (e.g. ``emails``) costs 1 + its children once;
* fields in fragments are all counted (an upper bound when type conditions differ).

``requestedQueryCost`` applies these rules to the document before execution. ``actualQueryCost``
applies them to the data returned, using the real number of nodes of each connection (a null field
costs 1, its children nothing). Mutations are costed by the same rules.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

DEFAULT_CONNECTION_SIZE = 100
TOTAL_COUNT_FACTOR = 0.5
ZERO_COST_FIELDS = frozenset({"nodes", "edges", "node"})
_REQUESTED = object()  # marker: cost the document, not data
_CONNECTION_SPECIAL = frozenset({"nodes", "edges", "totalCount"})

FieldGroup = list[tuple[FieldNode, Any]]


def is_connection_type(type_: Any) -> bool:
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        return False
    return named.name.endswith("Connection") and ("nodes" in named.fields or "edges" in named.fields)


def find_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        return next((o for o in ops if o.name and o.name.value == operation_name), None)
    return ops[0] if len(ops) == 1 else None


class QueryCoster:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None = None) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    # -- public -------------------------------------------------------------------------------
    def operation_cost(self, operation: OperationDefinitionNode, data: Any = _REQUESTED) -> int:
        is_mutation = operation.operation == OperationType.MUTATION
        root = self.schema.mutation_type if is_mutation else self.schema.query_type
        if root is None:
            return 0
        return self._selection_cost([(operation.selection_set, root)], data)

    # -- internals ------------------------------------------------------------------------------
    def _collect(self, sets: list[tuple[SelectionSetNode | None, Any]]) -> dict[str, FieldGroup]:
        out: dict[str, FieldGroup] = {}
        stack = list(sets)
        seen_fragments: set[str] = set()
        while stack:
            sel_set, parent = stack.pop(0)
            if sel_set is None:
                continue
            for sel in sel_set.selections:
                if isinstance(sel, FieldNode):
                    key = sel.alias.value if sel.alias else sel.name.value
                    out.setdefault(key, []).append((sel, parent))
                elif isinstance(sel, InlineFragmentNode):
                    cond = parent
                    if sel.type_condition:
                        cond = self.schema.get_type(sel.type_condition.name.value) or parent
                    stack.append((sel.selection_set, cond))
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    frag = self.fragments.get(name)
                    if frag is None or name in seen_fragments:
                        continue
                    seen_fragments.add(name)
                    cond = self.schema.get_type(frag.type_condition.name.value)
                    stack.append((frag.selection_set, cond or parent))
        return out

    def _field_type(self, group: FieldGroup) -> Any:
        node, parent = group[0]
        fields = getattr(parent, "fields", None)
        if not fields:
            return None
        field = fields.get(node.name.value)
        return field.type if field is not None else None

    def _child_sets(self, group: FieldGroup, field_type: Any) -> list[tuple[SelectionSetNode | None, Any]]:
        named = get_named_type(field_type) if field_type is not None else None
        return [(node.selection_set, named) for node, _ in group]

    def _page_size(self, node: FieldNode) -> int:
        values: dict[str, Any] = {}
        for arg in node.arguments or ():
            if arg.name.value not in ("first", "last"):
                continue
            val = arg.value
            if isinstance(val, IntValueNode):
                values[arg.name.value] = int(val.value)
            elif isinstance(val, VariableNode):
                values[arg.name.value] = self.variables.get(val.name.value)
        for key in ("first", "last"):
            value = values.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
        return DEFAULT_CONNECTION_SIZE

    def _selection_cost(
        self, sets: list[tuple[SelectionSetNode | None, Any]], data: Any, skip: frozenset[str] = frozenset()
    ) -> int:
        total = 0
        for key, group in self._collect(sets).items():
            name = group[0][0].name.value
            if name.startswith("__") or name in skip:
                continue
            field_type = self._field_type(group)
            children = self._child_sets(group, field_type)
            has_children = any(s is not None for s, _ in children)
            if data is _REQUESTED:
                value: Any = _REQUESTED
            else:
                value = data.get(key) if isinstance(data, dict) else None
                if value is None:
                    total += 0 if name in ZERO_COST_FIELDS else 1
                    continue
            if field_type is not None and is_connection_type(field_type) and has_children:
                total += self._connection_cost(group[0][0], children, value)
            elif has_children:
                own = 0 if name in ZERO_COST_FIELDS else 1
                item = value
                if isinstance(value, list):
                    item = value[0] if value else None
                    if item is None:
                        total += own
                        continue
                total += own + self._selection_cost(children, item)
            else:
                total += 1
        return total

    def _connection_cost(self, node: FieldNode, children: list[tuple[SelectionSetNode | None, Any]], value: Any) -> int:
        inner = self._collect(children)
        per_nodes = 0
        for key, group in inner.items():
            if group[0][0].name.value not in ("nodes", "edges"):
                continue
            sub_children = self._child_sets(group, self._field_type(group))
            if value is _REQUESTED:
                per_nodes += self._selection_cost(sub_children, _REQUESTED)
            else:
                items = value.get(key) if isinstance(value, dict) else None
                for item in items or []:
                    per_nodes += self._selection_cost(sub_children, item)
        total_count_selected = any(g[0][0].name.value == "totalCount" for g in inner.values())
        other = self._selection_cost(children, value, skip=_CONNECTION_SPECIAL)
        node_cost = self._page_size(node) * per_nodes if value is _REQUESTED else per_nodes
        cost = 1 + node_cost + other
        if total_count_selected:
            cost += 1 + math.ceil(TOTAL_COUNT_FACTOR * node_cost)
        return cost


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None = None,
) -> int:
    return QueryCoster(schema, document, variables).operation_cost(operation)


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any] | None,
    data: dict[str, Any] | None,
) -> int:
    return QueryCoster(schema, document, variables).operation_cost(operation, data or {})


class LeakyBucket:
    """Points restore continuously at ``restore_rate``/s up to ``maximum``."""

    def __init__(self, maximum: float, restore_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._available = float(maximum)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._stamp) * self.restore_rate)
        self._stamp = now

    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._available

    def consume(self, points: float) -> float:
        with self._lock:
            self._refill()
            self._available = max(0.0, self._available - points)
            return self._available

    def set_available(self, points: float) -> None:
        with self._lock:
            self._refill()
            self._available = max(0.0, min(self.maximum, points))

    def reconfigure(self, maximum: float, restore_rate: float) -> None:
        with self._lock:
            self._refill()
            self.maximum = float(maximum)
            self.restore_rate = float(restore_rate)
            self._available = min(self._available, self.maximum)

    def throttle_status(self) -> dict[str, float | int]:
        rate: float | int = self.restore_rate
        if float(rate).is_integer():
            rate = int(rate)
        return {
            "maximumAvailable": int(self.maximum),
            "currentlyAvailable": int(self.available()),
            "restoreRate": rate,
        }


class RequestLimiter:
    """At most ``limit`` requests in any sliding ``window_s``; rejected requests are not counted."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float | None:
        """Record a request; return None if allowed, else the seconds until one is allowed again."""
        with self._lock:
            now = self._clock()
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window_s - now, 0.0) if hits else self.window_s
            hits.append(now)
            return None
