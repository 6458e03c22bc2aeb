"""Estimate a query's cost before sending it, by Jobber's documented rules, from the bundled schema.

Rules: every field costs 1; `nodes`, `edges` and `node` cost 0 (their children count); a connection
costs 1 plus `first` (or `last`; 100 when neither is given) times the cost of one node. The estimate is
only used until Jobber's own `requestedQueryCost` for the document is known, so that the very first
request of a long read is paced too.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    parse,
    value_from_ast_untyped,
)

FREE_FIELDS = {"nodes", "edges", "node"}
DEFAULT_CONNECTION_SIZE = 100


def _is_connection(type_: Any) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


class _Estimator:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection(self, selection_set: SelectionSetNode | None, parent: Any) -> float:
        if selection_set is None:
            return 0.0
        total = 0.0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent)
            elif isinstance(node, InlineFragmentNode):
                target = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += self.selection(node.selection_set, target)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    total += self.selection(
                        fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value)
                    )
        return total

    def field(self, node: FieldNode, parent: Any) -> float:
        name = node.name.value
        named = get_named_type(parent)
        fields = getattr(named, "fields", None) or {}
        definition = fields.get(name)
        child_type = definition.type if definition is not None else None
        if name in FREE_FIELDS:
            return self.selection(node.selection_set, child_type)
        if child_type is not None and _is_connection(child_type):
            size = self.connection_size(node)
            per_node = 0.0
            rest = 0.0
            for sub in node.selection_set.selections if node.selection_set else []:
                if isinstance(sub, FieldNode) and sub.name.value in ("nodes", "edges"):
                    per_node += self.field(sub, child_type)
                elif isinstance(sub, FieldNode):
                    rest += self.field(sub, child_type)
            return 1 + size * per_node + rest
        return 1 + self.selection(node.selection_set, child_type)

    def connection_size(self, node: FieldNode) -> float:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                if isinstance(argument.value, VariableNode):
                    value = self.variables.get(argument.value.name.value)
                else:
                    value = value_from_ast_untyped(argument.value)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
        return DEFAULT_CONNECTION_SIZE


@lru_cache(maxsize=256)
def _parsed(document: str) -> Any:
    return parse(document, no_location=True)


def estimate_cost(
    document: str, variables: Mapping[str, Any] | None = None, schema: GraphQLSchema | None = None
) -> float:
    """Jobber's requested cost of `document` with `variables`, as far as the documented rules predict it."""
    if schema is None:
        from tasks.jobber.schema_tools import load_schema

        schema = load_schema()
    ast = _parsed(document)
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}
    estimator = _Estimator(schema, fragments, variables or {})
    total = 0.0
    for definition in ast.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.mutation_type if definition.operation.value == "mutation" else schema.query_type
            total += estimator.selection(definition.selection_set, root)
    return total
