"""Contract tests: every GraphQL document the project sends is valid against Jobber's schema and follows
Jobber's rules (userErrors on mutations, `first` on every connection, no totalCount, no deprecated fields).

The schema is the bundled introspection result in ``tasks/jobber/schema/``; every
``schema-*.introspection.json`` there is checked, so dropping in a newer version's schema re-checks all
documents against it.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    get_named_type,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.validation import NoDeprecatedCustomRule, NoUnusedFragmentsRule

from tasks.jobber.documents import with_fragments

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "tasks" / "jobber" / "schema"
SCHEMA_FILES = sorted(SCHEMA_DIR.glob("schema-*.introspection.json"))
DOCUMENT_ROOTS = ("tasks", "flows")
PYTHON_ROOTS = ("tasks", "flows", "deployments")
PYTHON_SKIP = (ROOT / "deployments" / "sandbox",)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _graphql_files() -> list[Path]:
    files = [
        path
        for root in DOCUMENT_ROOTS
        for path in (ROOT / root).rglob("*.graphql")
        if SCHEMA_DIR not in path.parents and "__pycache__" not in path.parts
    ]
    return sorted(files)


def _is_fragment_file(path: Path) -> bool:
    return path.parent.name == "fragments"


GRAPHQL_FILES = _graphql_files()
OPERATION_FILES = [path for path in GRAPHQL_FILES if not _is_fragment_file(path)]


@cache
def _schema(path: Path) -> GraphQLSchema:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return build_client_schema(raw.get("data", raw))


@cache
def _document(path: Path) -> DocumentNode:
    """The file as sent: with the shared fragments it spreads (directly or not) appended."""
    return parse(with_fragments(path.read_text(encoding="utf-8")))


def _errors(path: Path, errors: list[str]) -> str:
    return f"{_rel(path)}:\n  " + "\n  ".join(errors)


def test_the_bundled_schema_and_documents_exist() -> None:
    assert SCHEMA_FILES, f"no schema-*.introspection.json in {SCHEMA_DIR}"
    assert len(OPERATION_FILES) >= 40, "the Jobber action documents are missing"


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("path", GRAPHQL_FILES, ids=_rel)
def test_document_is_valid_against_jobbers_schema(path: Path, schema_file: Path) -> None:
    """Unknown fields, arguments, types, wrong variable types: all named with the file."""
    rules = specified_rules
    if _is_fragment_file(path):  # a fragment library is used by other files, not by itself
        rules = tuple(rule for rule in specified_rules if rule is not NoUnusedFragmentsRule)
    errors = validate(_schema(schema_file), _document(path), rules)
    assert not errors, _errors(path, [error.message for error in errors])


@pytest.mark.parametrize("path", OPERATION_FILES, ids=_rel)
def test_operation_file_holds_exactly_one_named_operation(path: Path) -> None:
    operations = [d for d in _document(path).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1, _errors(path, [f"{len(operations)} operations; expected exactly one"])
    assert operations[0].name is not None, _errors(path, ["the operation has no name"])


@pytest.mark.parametrize("path", GRAPHQL_FILES, ids=_rel)
def test_document_uses_no_deprecated_field_or_enum_value(path: Path) -> None:
    """Jobber deprecates fields before removing them (Invoice.total -> amounts.total)."""
    errors = validate(_schema(SCHEMA_FILES[-1]), _document(path), [NoDeprecatedCustomRule])
    assert not errors, _errors(path, [error.message for error in errors])


class _RuleChecker(Visitor):
    """Collects breaches of Jobber's cost and mutation rules while TypeInfo tracks the field types."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.problems: list[str] = []

    def enter_field(self, node: FieldNode, *_: object) -> None:
        field_type = self.type_info.get_type()
        if field_type is None:
            return  # unknown field: the validity test reports it
        type_name = get_named_type(field_type).name
        parent = self.type_info.get_parent_type()
        where = f"{parent.name if parent else '?'}.{node.name.value}"
        arguments = {argument.name.value for argument in node.arguments or ()}
        if type_name.endswith("Connection") and not arguments & {"first", "last"}:
            self.problems.append(f"{where} is a connection without `first` (costed as 100 nodes)")
        if node.name.value == "totalCount":
            self.problems.append(f"{where} selects totalCount (raises the query cost)")


def _rule_problems(schema: GraphQLSchema, document: DocumentNode) -> list[str]:
    type_info = TypeInfo(schema)
    checker = _RuleChecker(type_info)
    visit(document, TypeInfoVisitor(type_info, checker))
    return checker.problems


@pytest.mark.parametrize("path", GRAPHQL_FILES, ids=_rel)
def test_every_connection_passes_first_and_no_total_count(path: Path) -> None:
    problems = _rule_problems(_schema(SCHEMA_FILES[-1]), _document(path))
    assert not problems, _errors(path, problems)


def _selected(selection_set: object, name: str) -> FieldNode | None:
    for selection in getattr(selection_set, "selections", ()):
        if isinstance(selection, FieldNode) and selection.name.value == name:
            return selection
    return None


@pytest.mark.parametrize("path", OPERATION_FILES, ids=_rel)
def test_mutation_selects_user_errors(path: Path) -> None:
    """Jobber reports refused mutations in `userErrors`, not in `errors`: unselected, a failure looks
    like success."""
    problems = []
    for operation in _document(path).definitions:
        if not isinstance(operation, OperationDefinitionNode) or operation.operation is not OperationType.MUTATION:
            continue
        for root_field in operation.selection_set.selections:
            assert isinstance(root_field, FieldNode), "spread fragments on the mutation root are not allowed"
            user_errors = _selected(root_field.selection_set, "userErrors")
            selected = (
                {f.name.value for f in user_errors.selection_set.selections if isinstance(f, FieldNode)}
                if (user_errors and user_errors.selection_set)
                else set()
            )
            if not {"message", "path"} <= selected:
                problems.append(f"{root_field.name.value} does not select userErrors {{ message path }}")
    assert not problems, _errors(path, problems)


@pytest.mark.parametrize("path", OPERATION_FILES, ids=_rel)
def test_paginated_query_selects_page_info(path: Path) -> None:
    """A query declaring $first and $after is paginated by JobberClient.paginate, which needs
    `nodes` and `pageInfo { endCursor hasNextPage }` on that connection."""
    operation = next(d for d in _document(path).definitions if isinstance(d, OperationDefinitionNode))
    variables = {v.variable.name.value: v.type for v in operation.variable_definitions or ()}
    if not {"first", "after"} <= variables.keys():
        return
    assert str(getattr(variables["first"], "name", None) and variables["first"].name.value) == "Int", _errors(
        path, ["$first must be declared as Int (nullable)"]
    )
    connection = next(iter(operation.selection_set.selections))
    assert isinstance(connection, FieldNode)
    page_info = _selected(connection.selection_set, "pageInfo")
    assert _selected(connection.selection_set, "nodes") is not None, _errors(path, ["no `nodes` selection"])
    assert page_info is not None and page_info.selection_set is not None, _errors(path, ["no `pageInfo`"])
    fragments = {d.name.value: d for d in _document(path).definitions if isinstance(d, FragmentDefinitionNode)}
    fields = _field_names(page_info.selection_set, fragments)
    assert {"endCursor", "hasNextPage"} <= fields, _errors(path, ["pageInfo lacks endCursor/hasNextPage"])


def _field_names(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> set[str]:
    """The fields a selection selects, through the fragments it spreads (``pageInfo { ...PageInfoFields }``)."""
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, FragmentSpreadNode):
            names |= _field_names(fragments[selection.name.value].selection_set, fragments)
    return names


# -- no GraphQL hiding in Python ---------------------------------------------------------------------

INLINE_OPERATION = re.compile(
    r"\b(?:query|mutation|subscription)\s+[_A-Za-z]\w*\s*[({]|\b(?:query|mutation|subscription)\s*\{"
)


def _python_files() -> Iterator[Path]:
    for root in PYTHON_ROOTS:
        for path in sorted((ROOT / root).rglob("*.py")):
            if not any(skip == path or skip in path.parents for skip in PYTHON_SKIP):
                yield path


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _inline_operations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            match = INLINE_OPERATION.search(node.value)
            if match:
                found.append(f"line {node.lineno}: {match.group(0)!r}")
    return found


def test_no_graphql_operation_is_written_inline_in_python() -> None:
    """Operations live in .graphql files, where the tests above validate them against the schema."""
    offenders = {_rel(path): hits for path in _python_files() if (hits := _inline_operations(path))}
    assert not offenders, "GraphQL operations inline in Python (move them to a .graphql file):\n" + "\n".join(
        f"  {path}: {', '.join(hits)}" for path, hits in offenders.items()
    )


def test_inline_operation_detector_sees_the_usual_shapes() -> None:
    for text in ("query GetJob($id: EncodedId!) {", "mutation CloseJob(", "query { account { id } }", "query Q {"):
        assert INLINE_OPERATION.search(text), text
    for text in ("the query failed", "query cost 12", "a mutation refused"):
        assert not INLINE_OPERATION.search(text), text
