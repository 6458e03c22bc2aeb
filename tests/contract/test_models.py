"""Contract tests: the models of ``tasks/jobber/models.py`` against Jobber's schema and the documents.

1. Every field of every model exists on the schema type it reads, with a compatible type (a string for
   String/EncodedId/an enum, a number for Float/Int, a list for a list or a connection, a nested model for
   an object), so a model cannot expect what Jobber never sends.
2. Every query document whose root is a record the models read (job, client, property, invoice, visit,
   quote, user, payment) parses into its model with nothing left over: the document is executed against
   the schema with made-up values, and the answer must validate without a problem and leave no field in
   a model's extras (a selected field the model does not read) nor a nested record without its id.
"""

from __future__ import annotations

import types
import typing
from datetime import datetime
from functools import cache
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    OperationDefinitionNode,
    get_named_type,
    graphql_sync,
    is_non_null_type,
    parse,
)
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from tasks.jobber import models
from tasks.jobber.documents import all_documents

from .test_documents import SCHEMA_FILES, _schema

ROOT_MODELS: dict[str, type[models.JobberModel]] = {
    "Account": models.Account,
    "Job": models.Job,
    "Client": models.Client,
    "Property": models.Property,
    "Visit": models.Visit,
    "Invoice": models.Invoice,
    "Quote": models.Quote,
    "User": models.User,
    "Task": models.Task,
    "Expense": models.Expense,
    "Request": models.Request,
    "QuoteNote": models.Note,
    "PaymentRecordInterface": models.PaymentRecord,
}
"""Schema type -> the model that reads it (the nested models are reached through their fields)."""

DOCUMENT_ALIASES = {("Invoice", "reviewJobs"): "jobs"}
"""Model fields that read an alias a document gives a schema field (events/invoice: ``reviewJobs: jobs``)."""

SCALARS: dict[type, frozenset[str]] = {
    str: frozenset({"String", "ID", "EncodedId", "Url", "Timezone", "Color", "ISO8601Time"}),
    float: frozenset({"Float", "Int"}),
    int: frozenset({"Int"}),
    bool: frozenset({"Boolean"}),
    datetime: frozenset({"ISO8601DateTime", "ISO8601Date"}),
}


def _plain(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            assert len(args) == 1, f"unexpected union {annotation}"
            annotation = args[0]
        else:
            return annotation


def _unwrap_list(schema_type: GraphQLType) -> GraphQLType | None:
    """The item type of a list or a connection (``XConnection.nodes``), or None."""
    if isinstance(schema_type, GraphQLNonNull):
        schema_type = schema_type.of_type
    if isinstance(schema_type, GraphQLList):
        return get_named_type(schema_type.of_type)
    named = get_named_type(schema_type)
    if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and "nodes" in named.fields:
        return get_named_type(named.fields["nodes"].type)
    return None


def _mismatches(schema: GraphQLSchema, model: type[BaseModel], type_name: str, seen: set[tuple[str, str]]) -> list[str]:
    if (model.__name__, type_name) in seen:
        return []
    seen.add((model.__name__, type_name))
    schema_type = schema.get_type(type_name)
    assert isinstance(schema_type, GraphQLObjectType | GraphQLInterfaceType), type_name
    hints = typing.get_type_hints(model, vars(models), include_extras=True)
    found: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or to_camel(name)
        schema_field = schema_type.fields.get(DOCUMENT_ALIASES.get((type_name, alias), alias))
        where = f"{model.__name__}.{name} ({type_name}.{alias})"
        if schema_field is None:
            found.append(f"{where}: no such field in the schema")
            continue
        annotation = _plain(hints[name])
        item_type = _unwrap_list(schema_field.type)
        if typing.get_origin(annotation) is list:
            if item_type is None:
                found.append(f"{where}: a list in the model, {schema_field.type} in the schema")
                continue
            annotation, named = _plain(typing.get_args(annotation)[0]), item_type
        else:
            named = get_named_type(schema_field.type)
            if item_type is not None:
                found.append(f"{where}: {annotation} in the model, a list in the schema")
                continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
                found.append(f"{where}: a model for {named}")
            else:
                found += _mismatches(schema, annotation, named.name, seen)
        elif isinstance(named, GraphQLEnumType):
            if annotation is not str:
                found.append(f"{where}: {annotation} for the enum {named.name}")
        elif not isinstance(named, GraphQLScalarType) or named.name not in SCALARS.get(annotation, frozenset()):
            found.append(f"{where}: {annotation} for {named}")
    return found


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_model_field_is_in_the_schema_with_a_compatible_type(schema_file: Any) -> None:
    schema = _schema(schema_file)
    seen: set[tuple[str, str]] = set()
    problems = [p for type_name, model in ROOT_MODELS.items() for p in _mismatches(schema, model, type_name, seen)]
    assert not problems, "\n".join(problems)
    assert len(seen) > len(ROOT_MODELS)  # the nested models were reached too


# -- every document's selection parses into its model -------------------------------------------------------

SAMPLES: dict[str, Any] = {
    "String": "text",
    "ID": "id-1",
    "EncodedId": "Z2lkOi8vSm9iYmVyLzE=",
    "Url": "https://secure.getjobber.com/x",
    "Float": 12.5,
    "Int": 7,
    "Boolean": True,
    "ISO8601DateTime": "2026-12-01T23:11:31Z",
    "ISO8601Date": "2026-12-01",
    "Timezone": "America/Chicago",
}


def _made_up(_source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    """A value of the field's type: one item for a list, an empty object the resolver fills for an object."""
    field_type = info.return_type
    if is_non_null_type(field_type):
        field_type = field_type.of_type  # type: ignore[attr-defined]
    if isinstance(field_type, GraphQLList):
        return [{}]
    named = get_named_type(field_type)
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values.values())).value or next(iter(named.values))
    if isinstance(named, GraphQLScalarType):
        return SAMPLES.get(named.name, "text")
    return {}


def _type_resolver(_value: Any, info: GraphQLResolveInfo, abstract: Any) -> str:
    return str(info.schema.get_possible_types(abstract)[0].name)


@cache
def _record_queries() -> dict[str, tuple[str, str, type[models.JobberModel]]]:
    """Document name -> (its text, the root field, the model of the record it returns)."""
    schema = _schema(SCHEMA_FILES[-1])
    query_type = schema.query_type
    assert query_type is not None
    found = {}
    for name, text in all_documents().items():
        operation = next(d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode))
        if operation.operation.value != "query" or len(operation.selection_set.selections) != 1:
            continue
        root = operation.selection_set.selections[0].name.value  # type: ignore[attr-defined]
        root_type = get_named_type(query_type.fields[root].type)
        item_type = _unwrap_list(query_type.fields[root].type) or root_type
        model = ROOT_MODELS.get(item_type.name)
        if model is not None:
            found[name] = (text, root, model)
    return found


def test_the_pipeline_documents_are_among_those_checked() -> None:
    names = set(_record_queries())
    for name in ("events/job", "events/visit", "events/invoice", "events/client", "events/payment", "sync/job"):
        assert name in names
    assert {"slack/job", "slack/invoice", "sync/clients", "reviews/job", "jobs/get"} <= names


def _leftovers(value: Any, path: str) -> list[str]:
    """Fields a model kept as extras (selected but not read), anywhere in ``value``."""
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _leftovers(item, f"{path}[{i}]")]
    if not isinstance(value, BaseModel):
        return []
    found = [f"{path}.{key}" for key in (value.model_extra or {})]
    for name in type(value).model_fields:
        found += _leftovers(getattr(value, name), f"{path}.{name}")
    return found


@pytest.mark.parametrize("name", sorted(_record_queries()))
def test_every_record_query_parses_into_its_model_with_nothing_left_over(name: str) -> None:
    text, root, model = _record_queries()[name]
    schema = _schema(SCHEMA_FILES[-1])
    operation = next(d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode))
    variables = {
        v.variable.name.value: SAMPLES.get(get_named_type(schema.get_type(v.type.type.name.value)).name, "x")  # type: ignore[attr-defined, arg-type]
        for v in operation.variable_definitions or ()
        if v.type.kind == "non_null_type"
    }
    result = graphql_sync(
        schema, text, variable_values=variables, field_resolver=_made_up, type_resolver=_type_resolver
    )
    assert not result.errors, result.errors
    assert result.data is not None
    answer = result.data[root]
    nodes = answer["nodes"] if isinstance(answer, dict) and "nodes" in answer and root.endswith("s") else [answer]
    for node in nodes:
        record, problems = model.read(node)
        assert not problems, f"{name}: {problems}"
        leftovers = _leftovers(record, model.__name__)
        assert not leftovers, f"{name} selects fields its model does not read: {leftovers}"
        dumped = record.model_dump(by_alias=True, exclude_defaults=True)
        assert dumped.get("id"), f"{name}: the record lost its id"
