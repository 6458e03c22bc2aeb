"""The layout holds: imports run downward, production code never loads the developer tools, modules stay small.

The floors of ``tasks/``, lowest first (a module may import its own floor and the floors below it):

0. ``tasks.errors``, ``tasks.settings``, ``tasks.retry``, ``tasks.phone``, ``tasks.deployment_specs``:
   plain values and configuration
1. ``tasks.store``: the database (models, migrations, repositories shared by every pipeline)
2. ``tasks.jobber`` and ``tasks.delivery``: the outside world (Jobber's API; Twilio, SMTP, the local outbox)
3. ``tasks.sync``, ``tasks.slack``: one pipeline each
4. ``tasks.reviews``: review requests (it posts to Slack); ``tasks.admin``: the admin page's data (it shows the
   review settings)
5. ``tasks.events``: the event path, which drives sync, reviews and Slack per webhook

Above ``tasks/`` stand ``flows/`` and ``deployments/`` (production) and ``sandbox/`` (developer tools);
``tasks/`` imports none of them. The imports are read with ``ast``, so a lazy import inside a function
counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tasks", "flows", "deployments", "sandbox", "bench", "tests")

FLOORS: dict[str, int] = {
    "tasks.errors": 0,
    "tasks.settings": 0,
    "tasks.retry": 0,
    "tasks.phone": 0,
    "tasks.deployment_specs": 0,
    "tasks.store": 1,
    "tasks.jobber": 2,
    "tasks.delivery": 2,
    "tasks.sync": 3,
    "tasks.slack": 3,
    "tasks.reviews": 4,
    "tasks.admin": 4,
    "tasks.events": 5,
}

# Upward imports other work is removing (issue 11); each names its module and import. Shrink as they land.
KNOWN_UPWARD: set[tuple[str, str]] = set()

MAX_LINES = 600
# Modules over MAX_LINES that other parts of issue 11 are splitting. Remove an entry when its split lands.
KNOWN_LONG: set[str] = set()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _python_files(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path, module: str | None = None) -> list[Import]:
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append(Import(module, target, node.lineno))
            # `from tasks import phone` imports the module tasks.phone
            found.extend(Import(module, f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _floor(module: str) -> int | None:
    for prefix, floor in FLOORS.items():
        if module == prefix or module.startswith(prefix + "."):
            return floor
    return None


def _is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _known_module(target: str) -> bool:
    """``from tasks.store import inbox`` records both tasks.store and tasks.store.inbox; only real modules count."""
    path = ROOT.joinpath(*target.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


TASKS_IMPORTS = [imp for path in _python_files("tasks") for imp in _imports(path) if _known_module(imp.target)]


def test_every_tasks_module_has_a_floor() -> None:
    modules = {_module_name(path) for path in _python_files("tasks")} - {"tasks"}
    missing = sorted(m for m in modules if _floor(m) is None)
    assert not missing, f"add these to FLOORS in {__file__}: {missing}"


def test_tasks_imports_no_production_entry_points_and_no_developer_tools() -> None:
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in _imports_of(_python_files("tasks"))
        if imp.target.split(".")[0] in ("deployments", "sandbox", "flows")
    ]
    assert not wrong, "tasks/ is the floor below flows/, deployments/ and sandbox/:\n" + "\n".join(wrong)


def test_store_imports_no_pipeline() -> None:
    above = ("tasks.sync", "tasks.reviews", "tasks.delivery", "tasks.slack", "tasks.events", "tasks.jobber")
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in TASKS_IMPORTS
        if _is_within(imp.module, "tasks.store") and any(_is_within(imp.target, p) for p in above)
    ]
    assert not wrong, "tasks/store is below every pipeline:\n" + "\n".join(wrong)


def test_tasks_imports_run_downward() -> None:
    upward = set()
    for imp in TASKS_IMPORTS:
        source, target = _floor(imp.module), _floor(imp.target)
        if source is not None and target is not None and target > source:
            upward.add((imp.module, imp.target, imp.line))
    unexpected = sorted(u for u in upward if (u[0], u[1]) not in KNOWN_UPWARD)
    assert not unexpected, "imports from a lower floor to a higher one:\n" + "\n".join(
        f"{m}:{line} (floor {_floor(m)}) imports {t} (floor {_floor(t)})" for m, t, line in unexpected
    )
    stale = KNOWN_UPWARD - {(m, t) for m, t, _ in upward}
    assert not stale, f"these upward imports are gone: remove them from KNOWN_UPWARD: {sorted(stale)}"


def test_production_loads_the_sandbox_only_inside_the_commands_that_run_it() -> None:
    """deployments/ may name sandbox/ only in the CLI's `sandbox serve` and `demo` commands, inside the function."""
    allowed = {"deployments.cli.sandbox", "deployments.cli.demo"}
    wrong = []
    for path in _python_files("deployments", "flows"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if not any(n.split(".")[0] == "sandbox" for n in names):
                continue
            module = _module_name(path)
            if module not in allowed or id(node) in top_level:
                wrong.append(f"{module}:{node.lineno}")
    assert not wrong, "production code imports the sandbox package:\n" + "\n".join(wrong)


def test_the_fake_jobber_stands_alone() -> None:
    """sandbox/jobber is Jobber's stand-in: it knows nothing of the code it stands in for (the demo does)."""
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in _imports_of(sorted((ROOT / "sandbox" / "jobber").rglob("*.py")))
        if imp.target.split(".")[0] in ("tasks", "flows", "deployments")
    ]
    assert not wrong, "\n".join(wrong)


def _imports_of(paths: list[Path]) -> list[Import]:
    return [imp for path in paths for imp in _imports(path)]


def _line_count(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def test_no_module_over_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): _line_count(path)
        for path in _python_files(*PACKAGES)
        if _line_count(path) > MAX_LINES
    }
    unexpected = {path: n for path, n in long.items() if path not in KNOWN_LONG}
    assert not unexpected, f"split these modules (at most {MAX_LINES} lines): {unexpected}"
    done = sorted(KNOWN_LONG - set(long))
    assert not done, f"these are {MAX_LINES} lines or fewer now: remove them from KNOWN_LONG: {done}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tasks.sync.mapping import MappedRecord\n", "tasks.sync.mapping"),
        ("def f():\n    from deployments.runner import serve_all\n", "deployments.runner"),
        ("from ..sync import mapping\n", "tasks.sync.mapping"),
    ],
)
def test_the_walk_sees_top_level_lazy_and_relative_imports(tmp_path: Path, source: str, expected: str) -> None:
    """The checks above are only as good as the walk: it must see every kind of import."""
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    assert expected in {imp.target for imp in _imports(probe, module="tasks.store.probe")}
