"""Contract tests: the input fields the actions accept (``tasks/jobber/actions/fields.py``) against Jobber's schema.

Every ``TypedDict`` there is named after a GraphQL input type; each of its keys, camel-cased, must be a
field of that type, with a compatible type. And every action's ``**options`` are typed with one of them, so
no action accepts a keyword Jobber's input type does not have.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, get_named_type, get_nullable_type
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from tasks.jobber.actions import ACTIONS, fields

from .test_documents import SCHEMA_FILES, _schema
from .test_models import SCALARS, _plain


def _declared() -> dict[str, Any]:
    """The public ``TypedDict`` classes of ``fields.py``, by name."""
    return {
        name: value
        for name, value in vars(fields).items()
        if typing.is_typeddict(value) and value.__module__ == fields.__name__ and not name.startswith("_")
    }


DECLARED = _declared()


def _keys(declared: Any) -> frozenset[str]:
    return frozenset(declared.__required_keys__ | declared.__optional_keys__)


def _mismatch(annotation: Any, schema_type: Any) -> str | None:
    """Why a Python value of ``annotation`` cannot fill a field of ``schema_type``, or None."""
    plain = _plain(annotation)
    nullable = get_nullable_type(schema_type)
    named = get_named_type(schema_type)
    if typing.get_origin(plain) in (list, typing.get_origin(typing.Sequence[int])):
        return None if isinstance(nullable, GraphQLList) else f"a list here, {schema_type} in the schema"
    if isinstance(plain, type) and issubclass(plain, BaseModel):
        return None if isinstance(named, GraphQLInputObjectType) else f"a model here, {schema_type} in the schema"
    if isinstance(named, GraphQLEnumType):
        return None if plain is str else f"{plain} here, the enum {named.name} in the schema"
    accepted = SCALARS.get(plain, frozenset())
    return None if named.name in accepted else f"{plain} here, {named.name} in the schema"


def test_fields_declares_input_types() -> None:
    assert len(DECLARED) >= 15, sorted(DECLARED)


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda p: Path(p).stem)
@pytest.mark.parametrize("name", sorted(DECLARED))
def test_every_declared_field_is_a_field_of_the_input_type_it_names(schema_file: Path, name: str) -> None:
    schema_type = _schema(schema_file).get_type(name)
    assert isinstance(schema_type, GraphQLInputObjectType), f"{name} is not an input type of Jobber's schema"
    hints = typing.get_type_hints(DECLARED[name], vars(fields))
    problems = []
    for key in sorted(_keys(DECLARED[name])):
        schema_field = schema_type.fields.get(to_camel(key))
        if schema_field is None:
            problems.append(f"{name}.{key}: {schema_type.name} has no field {to_camel(key)}")
        elif (why := _mismatch(hints[key], schema_field.type)) is not None:
            problems.append(f"{name}.{key}: {why}")
    assert not problems


def _options(action: Any) -> inspect.Parameter | None:
    return next((p for p in inspect.signature(action).parameters.values() if p.kind is p.VAR_KEYWORD), None)


def _unpacked(action: Any) -> Any:
    """The ``TypedDict`` an action's ``**options: Unpack[X]`` names."""
    hints = typing.get_type_hints(action)
    options = _options(action)
    assert options is not None
    annotation = hints[options.name]
    assert typing.get_origin(annotation) is typing.Unpack, f"**{options.name} is not typed with Unpack[...]"
    return typing.get_args(annotation)[0]


@pytest.mark.parametrize("name", sorted(name for name, action in ACTIONS.items() if _options(action)))
def test_keyword_options_are_typed_with_a_declared_input_type(name: str) -> None:
    action = ACTIONS[name]
    declared = _unpacked(action)
    assert DECLARED.get(declared.__name__) is declared, f"{name}: {declared} is not declared in fields.py"
    explicit = set(inspect.signature(action).parameters)
    assert not explicit & _keys(declared), f"{name}: both a parameter and a field: {explicit & _keys(declared)}"


def test_every_declared_input_type_is_used_by_an_action() -> None:
    used = {_unpacked(action).__name__ for action in ACTIONS.values() if _options(action)}
    assert used == set(DECLARED)
