"""Names in the Prefect UI: a flow and a task never share a name, and every deployment's flow is one of ours.

The UI lists flow runs and task runs side by side; a task named like a flow (``review-dispatch`` the flow
running ``review-dispatch`` the task) reads as the flow running itself.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from prefect import Flow, Task

from tasks.deployment_specs import read_deployment_specs

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> list[str]:
    paths = [*(ROOT / "flows").glob("*.py"), *(ROOT / "tasks").rglob("prefect_tasks.py")]
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths if p.name != "__init__.py")


def _named(kind: type) -> dict[str, str]:
    found: dict[str, str] = {}
    for module in _modules():
        for attribute, value in vars(importlib.import_module(module)).items():
            if isinstance(value, kind):
                found.setdefault(value.name, f"{module}.{attribute}")
    return found


def test_no_flow_shares_its_name_with_a_task() -> None:
    flows, tasks = _named(Flow), _named(Task)
    assert len(flows) >= 9 and len(tasks) >= 10  # the walk finds them
    shared = {name: (flows[name], tasks[name]) for name in sorted(set(flows) & set(tasks))}
    assert not shared, f"rename the task (deployments name flows): {shared}"


def test_every_deployment_names_a_flow_that_exists() -> None:
    flows = _named(Flow)
    for spec in read_deployment_specs():
        path, _, function = spec["entrypoint"].partition(":")
        module = importlib.import_module(".".join(Path(path).with_suffix("").parts))
        flow = getattr(module, function)
        assert isinstance(flow, Flow) and flows[flow.name] == f"{module.__name__}.{function}", spec["name"]
