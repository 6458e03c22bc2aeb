"""prefect.yaml, read: the one description of every deployment and its parameters.

The runner (deployments/runner.py) serves these entries, `prefect deploy --all` registers them, and the
parts that need a deployment's parameters outside a run (the event worker's review settings when its
deployment is not registered, the Make.com endpoint, `jobberflow reviews preview`) read them here, with
JOBBERFLOW_PARAMETER_OVERRIDES laid over them as the runner does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT_DIR / "prefect.yaml"


def read_deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The `deployments:` entries of prefect.yaml."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = data.get("deployments") or []
    if not isinstance(specs, list):
        raise ValueError(f"{path}: `deployments` must be a list")
    return specs


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def parameter_overrides() -> dict[str, dict[str, Any]]:
    """`JOBBERFLOW_PARAMETER_OVERRIDES`: JSON {deployment name: {parameter: value}} laid over prefect.yaml.

    The demo uses it (no delay, a demo review link) without editing the contractor's prefect.yaml.
    """
    from tasks.settings import get_settings

    return get_settings().jobberflow_parameter_overrides


def deployment_parameters(name: str, path: Path = PREFECT_YAML) -> dict[str, Any] | None:
    """A deployment's parameters as the runner serves them (prefect.yaml + JOBBERFLOW_PARAMETER_OVERRIDES)."""
    for spec in read_deployment_specs(path):
        if spec.get("name") == name:
            return _merge(spec.get("parameters") or {}, parameter_overrides().get(name, {}))
    return None
