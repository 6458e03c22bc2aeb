"""prefect.yaml, read: the one description of every deployment and its parameters.

The runner (deployments/runner.py) serves these entries and `prefect deploy --all` registers them, with
JOBBERFLOW_PARAMETER_OVERRIDES laid over them as the runner does. The review settings of jobber-events are
only seeded from here: once that deployment exists, Prefect holds them (tasks/reviews/settings_source.py).
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


def merge_parameters(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` laid over `base`, nested dicts merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        nested = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merge_parameters(merged[key], value) if nested else value
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
            return merge_parameters(spec.get("parameters") or {}, parameter_overrides().get(name, {}))
    return None
