"""`Settings` (tasks/settings.py) is the only reader of the environment, and `secret_text` the one way a secret
becomes text.

The tree is read with `ast`: a read of `os.environ` (`.get`, `[...]`, `in`, `.setdefault`, `.pop`) or
`os.getenv` anywhere outside tasks/settings.py fails, naming the file and line. Setting variables for child
processes (`os.environ[...] = ...`, `.update`, `{**os.environ}` passed as a child's environment) is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import SecretStr

from tasks.errors import ConfigurationError
from tasks.settings import Settings, get_settings, reset_settings_cache, secret_text

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {"tests", "bench", ".venv", ".git", "data", "build", "dist", "node_modules"}
SETTINGS_MODULE = ROOT / "tasks" / "settings.py"

# (file relative to the root, variable or "*") -> why that read cannot go through Settings. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {}

_READING_METHODS = {"get", "setdefault", "pop", "__getitem__", "__contains__", "keys", "items", "values"}


def _is_environ(node: ast.AST) -> bool:
    """`os.environ`, or `environ` imported from os."""
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _key(node: ast.AST | None) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else "*"


def environment_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, variable or "*") of every read of the environment in a module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Name) and func.id == "getenv"
            ):
                found.append((node.lineno, _key(node.args[0] if node.args else None)))
            elif isinstance(func, ast.Attribute) and _is_environ(func.value) and func.attr in _READING_METHODS:
                found.append((node.lineno, _key(node.args[0] if node.args else None)))
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, _key(node.slice)))
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            found.append((node.lineno, _key(node.left)))
    return found


def project_modules() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1]) and path != SETTINGS_MODULE
    )


def test_the_scanner_sees_every_shape_of_read() -> None:
    source = """
import os
from os import environ, getenv
a = os.environ.get("A")
b = os.environ["B"]
c = os.getenv("C", "x")
d = "D" in os.environ
e = environ.get("E")
f = getenv("F")
os.environ["G"] = "set for a child"
os.environ.update({"H": "1"})
child = {**os.environ}
"""
    assert sorted(v for _, v in environment_reads(ast.parse(source))) == ["A", "B", "C", "D", "E", "F"]


def test_only_settings_reads_the_environment() -> None:
    modules = project_modules()
    assert any(p.parts[-2:] == ("gateway", "app.py") for p in modules), "the scan must cover the tree"
    offences = []
    for path in modules:
        relative = path.relative_to(ROOT).as_posix()
        for line, variable in environment_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if (relative, variable) not in ALLOWED and (relative, "*") not in ALLOWED:
                offences.append(f"{relative}:{line} reads {variable}")
    assert not offences, "make these Settings fields (tasks/settings.py):\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (SecretStr(""), None),
        (SecretStr("changeme"), None),
        ("your-token-here", None),
        (SecretStr(" tok-123\n"), "tok-123"),
        ("AC123", "AC123"),
    ],
)
def test_secret_text_is_none_for_unset_or_placeholder_and_strips(
    value: SecretStr | str | None, text: str | None
) -> None:
    assert secret_text(value) == text


def test_the_process_variables_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBBERFLOW_GATEWAY_RELAY", "off")
    monkeypatch.setenv("JOBBERFLOW_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("JOBBERFLOW_PARAMETER_OVERRIDES", '{"jobber-sync": {"mode": "full"}}')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.jobberflow_gateway_relay is False
    assert settings.jobberflow_log_level == "DEBUG"
    assert settings.jobberflow_parameter_overrides == {"jobber-sync": {"mode": "full"}}
    monkeypatch.setenv("JOBBERFLOW_PARAMETER_OVERRIDES", "{not json")
    reset_settings_cache()
    try:
        with pytest.raises(ConfigurationError, match="JOBBERFLOW_PARAMETER_OVERRIDES: not valid JSON"):
            get_settings()
    finally:
        reset_settings_cache()
