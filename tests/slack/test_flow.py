"""The two flows really run on the session's Prefect test server: a closed job in the sandbox is queued by
`slack-notify` (settings from the environment, clients from the factories) and posted by `slack-dispatch`
through the real slack-sdk to the local Slack endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import FakeSlack

pytestmark = pytest.mark.prefect


def test_slack_notify_then_slack_dispatch(
    prefect_server: None, own_sandbox: Any, fake_slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.slack_notify import slack_dispatch, slack_notify
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache
    from tasks.slack.outbox import slack_outbox_counts
    from tasks.store.db import get_engine
    from tasks.store.migrate import upgrade_database

    database_url = f"sqlite:///{tmp_path / 'flow.db'}"
    env = {
        "DATABASE_URL": database_url,
        "JOBBER_BASE_URL": own_sandbox.url,
        "JOBBER_API_KEY": own_sandbox.issue_tokens()["access_token"],
        "SLACK_BOT_TOKEN": "xoxb-1-flow-test",
        "SLACK_BASE_URL": fake_slack.url,
        "SLACK_DEFAULT_CHANNEL": "#ops",
        "SLACK_CHANNELS": '{"job_closed": "#field-team"}',
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_API_SECRET", "JOBBER_REFRESH_TOKEN"):
        monkeypatch.setenv(name, "")
    reset_settings_cache()
    reset_jobber_clients()
    upgrade_database(database_url)  # flow runs check the schema, never migrate
    try:
        store = own_sandbox.store
        job = next(j for j in store.jobs if j.job_status != "archived")
        store.close_job(job_id=job.id)

        outcome = slack_notify("JOB_CLOSED", job.id, store.account_id, dispatch=False)
        assert outcome.status == "queued" and outcome.channel == "#field-team"
        assert fake_slack.posts == []  # queued, not posted yet

        result = slack_dispatch()
        assert result.sent == 1 and result.counts.pending == 0
        (post,) = fake_slack.posts
        assert post["channel"] == "#field-team" and f"Job #{job.job_number} closed: {job.title}" in post["text"]
        assert slack_outbox_counts(get_engine(database_url)).as_dict() == {"pending": 0, "sent": 1, "failed": 0}
    finally:
        reset_jobber_clients()
        reset_settings_cache()
