"""Two real flow runs on the session's Prefect server (kept few: ~1-2 s each). Logic is tested elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.jobber import SandboxServer

pytestmark = pytest.mark.prefect


def _outbox(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp / "outbox").glob("sms-*.json"))]


def test_review_request_flow_sends_names_the_run_and_leaves_an_artifact(
    configured: SandboxServer, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client

    from flows.review_request import review_request

    sb = configured
    job = next(j for j in sb.store.jobs if j.job_number == 1042)
    sb.store.close_job(job_id=job.id)
    settings = {"review_link": "https://g.page/r/x/review", "delay_minutes": 0, "quiet_hours_enabled": False}
    state = review_request(topic="JOB_CLOSED", item_id=job.id, settings=settings, return_state=True)  # type: ignore[arg-type]
    assert state.result() == "sent"
    sent = _outbox(tmp_path)
    assert len(sent) == 1 and sent[0]["body"].startswith("Hi John! How was your Water Heater Installation with Mike?")

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]
        assert run.name == "review request: job #1042 Water Heater Installation -> John S. (sent)"
        artifacts = client.read_artifacts()
        assert any(a.key == "review-request-decisions" and a.flow_run_id == run.id for a in artifacts)

    # The JOB_UPDATE that follows JOB_CLOSED, delivered as its own event: nothing more is sent.
    assert review_request(topic="JOB_UPDATE", item_id=job.id, settings=settings) == "duplicate"  # type: ignore[arg-type]
    assert len(_outbox(tmp_path)) == 1


def test_bad_settings_are_refused_before_the_run_starts(configured: SandboxServer) -> None:
    from prefect.exceptions import ParameterTypeError

    from flows.review_request import review_request

    with pytest.raises(ParameterTypeError, match="review_link"):
        review_request.validate_parameters(
            {"topic": "JOB_CLOSED", "item_id": "x", "settings": {"review_link": "not a url"}}
        )


def test_dispatch_flow_drains_everything_due_in_one_run(configured: SandboxServer, tmp_path: Path) -> None:
    from flows.review_request import review_dispatch
    from tasks.jobber.factory import get_jobber_client
    from tasks.reviews.settings import ReviewSettings
    from tasks.reviews.usecases.plan import plan_from_event
    from tasks.store.db import get_engine
    from tasks.store.migrate import upgrade_database
    from tests.reviews.conftest import BRANDING

    sb = configured
    upgrade_database()
    settings = ReviewSettings(review_link="https://g.page/r/x/review", delay_minutes=0, quiet_hours_enabled=False,
                              cooldown_days=0, channels="sms_then_email")  # fmt: skip
    open_jobs = [j for j in sb.store.jobs if j.job_status != "archived" and j.client and not j.client.is_archived][:5]
    for job in open_jobs:
        sb.store.close_job(job_id=job.id)
        plan_from_event(get_jobber_client(), get_engine(), topic="JOB_CLOSED", item_id=job.id, settings=settings,
                        branding=BRANDING)  # fmt: skip
    summary = review_dispatch()
    assert sum(summary.values()) == len(open_jobs)
    assert review_dispatch() == {}
