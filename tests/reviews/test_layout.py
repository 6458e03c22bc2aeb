"""The shape of tasks/reviews: the rules are a functional core (no database), nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

REVIEWS = Path(__file__).resolve().parents[2] / "tasks" / "reviews"
# The typed reading of Jobber data and its time format: pydantic models and parsers, no I/O.
PURE = ("tasks.jobber.models", "tasks.jobber.times")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_rules_import_no_database() -> None:
    modules = sorted((REVIEWS / "rules").glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        bad = {
            name
            for name in _imports(path)
            if name.split(".")[0] == "sqlalchemy"
            or name.startswith(("tasks.store", "tasks.reviews.ledger"))
            or (name.startswith(("tasks.reviews.loader", "tasks.jobber")) and not name.startswith(PURE))
        }
        assert not bad, f"{path.name} is a rule module but imports {sorted(bad)}"
        assert "Session" not in path.read_text(encoding="utf-8"), f"{path.name} mentions a database Session"


def test_nothing_in_reviews_imports_deployments() -> None:
    for path in sorted(REVIEWS.rglob("*.py")):
        upward = {name for name in _imports(path) if name.split(".")[0] == "deployments"}
        assert not upward, f"{path.relative_to(REVIEWS)} imports {sorted(upward)}"


def test_no_review_module_is_over_600_lines() -> None:
    for path in sorted(REVIEWS.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 600, f"{path.relative_to(REVIEWS)} has {lines} lines"
