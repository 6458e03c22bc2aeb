"""prefect.yaml is the one description of the deployments: every entry loads, and the runner honours it."""

from __future__ import annotations

import pytest

from deployments.runner import build_runner_deployments, parameter_overrides, read_deployment_specs
from tasks.errors import ConfigurationError
from tasks.settings import reset_settings_cache


def test_every_deployment_in_prefect_yaml_loads_with_its_schedule_and_triggers() -> None:
    specs = {spec["name"]: spec for spec in read_deployment_specs()}
    deployments = {d.name: d for d in build_runner_deployments()}
    assert set(deployments) == set(specs)
    for name, spec in specs.items():
        deployment = deployments[name]
        assert len(deployment.schedules or []) == len(spec.get("schedules") or []), name
        assert len(deployment.triggers or []) == len(spec.get("triggers") or []), name
        assert deployment.enforce_parameter_schema, f"{name}: parameters must be validated"


def test_sync_runs_every_fifteen_minutes_and_no_deployment_runs_per_webhook() -> None:
    deployments = {d.name: d for d in build_runner_deployments()}
    interval = deployments["jobber-sync"].schedules[0].schedule.interval
    assert interval.total_seconds() == 900
    # Webhooks reach the event worker as background task runs (one per wake-up): no deployment starts a
    # flow run (a new process) per Jobber event any more.
    triggered = {name: d.triggers for name, d in deployments.items() if d.triggers}
    assert list(triggered) == ["jobber-events"]
    (stalled,) = triggered["jobber-events"]
    assert stalled.expect == {"jobberflow.events.stalled"}, "only a stalled event worker starts a deployment run"
    assert stalled.parameters == {"stale_after_seconds": 0}
    events = deployments["jobber-events"]
    assert events.schedules[0].schedule.interval.total_seconds() == 300, "the sweep for lost wake-ups"
    assert events.parameters["settings"]["trigger"] == "job_closed", "the contractor's review settings live here"
    assert events.concurrency_limit == 1


def test_overrides_change_parameters_without_editing_prefect_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBBERFLOW_PARAMETER_OVERRIDES", '{"jobber-sync": {"mode": "full"}}')
    reset_settings_cache()
    (sync,) = build_runner_deployments(names=["jobber-sync"], overrides=parameter_overrides())
    assert sync.parameters == {"mode": "full"}
    for bad in ("[1]", "{not json"):
        monkeypatch.setenv("JOBBERFLOW_PARAMETER_OVERRIDES", bad)
        reset_settings_cache()
        with pytest.raises(ConfigurationError, match="JOBBERFLOW_PARAMETER_OVERRIDES"):
            parameter_overrides()
    reset_settings_cache()
