"""What the `jobberflow reviews ...` commands call (the CLI wires them; they return text, never print).

- `preview_text(job_id, settings_path=None, deployment="jobber-events", overrides=None)`: the rendered
  request for a job, with channels, segments and send time. Settings come from a JSON/YAML file, else the
  contractor's, as every other reader sees them (tasks/reviews/settings_source.py).
- `recent_requests(limit=20)`: the latest review requests as rows (job, client, channel, status, reason).
- `dispatch_now()`: send everything due now, without Prefect (a one-off drain).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from tasks.reviews.settings import ReviewSettings


def load_review_settings(
    settings_path: Path | None = None, *, deployment: str = "jobber-events", overrides: dict[str, Any] | None = None
) -> ReviewSettings:
    """ReviewSettings from a JSON or YAML file, else the contractor's (the jobber-events deployment's in
    Prefect; prefect.yaml's while it does not exist: tasks/reviews/settings_source.py)."""
    if settings_path is not None:
        text = settings_path.read_text(encoding="utf-8")
        data = json.loads(text) if settings_path.suffix == ".json" else yaml.safe_load(text)
        if isinstance(data, dict) and isinstance(data.get("settings"), dict):
            data = data["settings"]
    elif deployment == "jobber-events":
        from tasks.reviews.settings_source import review_settings_data

        data = review_settings_data()
        if data is None:
            raise LookupError("the jobber-events deployment (and prefect.yaml) has no review settings; pass a file")
    else:
        from tasks.deployment_specs import deployment_parameters

        parameters = deployment_parameters(deployment)
        if parameters is None:
            raise LookupError(f"prefect.yaml has no deployment named {deployment!r}; pass a settings file")
        data = parameters.get("settings") or {}
    return ReviewSettings.model_validate({**(data or {}), **(overrides or {})})


def preview_text(
    job_id: str,
    settings_path: Path | None = None,
    *,
    deployment: str = "jobber-events",
    overrides: dict[str, Any] | None = None,
) -> str:
    """`jobberflow reviews preview JOB_ID [--settings FILE]`: raises ReviewTemplateError for a bad template."""
    from tasks.reviews.usecases.preview import preview

    settings = load_review_settings(settings_path, deployment=deployment, overrides=overrides)
    return preview(job_id, settings).as_text()


def recent_requests(limit: int = 20) -> list[dict[str, Any]]:
    """`jobberflow reviews list`: the latest requests, newest first."""
    from tasks.store.db import get_engine, unit_of_work
    from tasks.store.models import ReviewRequest

    with unit_of_work(get_engine()) as session:
        rows = session.scalars(select(ReviewRequest).order_by(ReviewRequest.id.desc()).limit(limit)).all()
        return [
            {
                "id": r.id,
                "job": f"#{r.job_number}" if r.job_number is not None else r.job_id,
                "client": r.recipient_name or "",
                "channel": r.channel or "",
                "status": r.status,
                "planned_at": r.planned_at.isoformat() if r.planned_at else "",
                "sent_at": r.sent_at.isoformat() if r.sent_at else "",
                "clicked": bool(r.clicked_at),
                "reason": r.reason or "",
            }
            for r in rows
        ]


def dispatch_now() -> dict[str, int]:
    """`jobberflow reviews dispatch`: send every due request now (outside Prefect); returns counts by status."""
    from tasks.reviews.prefect_tasks import dispatch_task

    return dispatch_task.fn().summary
