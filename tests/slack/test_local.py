"""The local Slack stand-in: without SLACK_BOT_TOKEN, notifications are written to
`<JOBBERFLOW_HOME>/outbox/slack/` (as SMS go to the local outbox) instead of failing; with a token the real
slack-sdk path is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tasks.settings import Settings
from tasks.slack import outbox
from tasks.slack.dispatch import ChannelPacer, dispatch_pending
from tasks.slack.factory import build_slack_sender
from tasks.slack.kinds import NotificationKind
from tasks.slack.local import LOCAL_DEFAULT_CHANNEL, LocalSlackSender, plain_text
from tasks.slack.notify import enqueue_notification, plan_notification
from tasks.slack.routing import routes_from_settings
from tasks.slack.sender import WebClientSender
from tasks.store.db import unit_of_work

from .builders import fetcher, job_node
from .conftest import FakeSlack

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Job closed* <https://x/j/1|#1042>"}}]


def _settings(home: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, jobberflow_home=home, **values)  # type: ignore[call-arg]


def test_without_a_token_messages_are_written_to_the_local_slack_outbox(tmp_path: Path) -> None:
    sender = build_slack_sender(_settings(tmp_path))
    assert isinstance(sender, LocalSlackSender) and sender.root == (tmp_path / "outbox" / "slack").resolve()
    first = sender.post_message(channel="#jobber", text="Job #1042 closed", blocks=BLOCKS)
    second = sender.post_message(channel="#ops", text="Invoice #7 paid", blocks=[])
    assert first and second and first != second  # a Slack-like `ts` each

    files = sorted((tmp_path / "outbox" / "slack").glob("*.json"))
    assert len(files) == 2
    written = json.loads(files[0].read_text())
    assert written["channel"] == "#jobber" and written["text"] == "Job #1042 closed" and written["blocks"] == BLOCKS
    assert written["ts"] == first and written["written_at"]
    assert [m["text"] for m in sender.messages()] == ["Job #1042 closed", "Invoice #7 paid"]
    log = [json.loads(line) for line in (tmp_path / "outbox" / "slack" / "slack.log").read_text().splitlines()]
    assert [(entry["channel"], entry["text"]) for entry in log] == [
        ("#jobber", "Job #1042 closed"),
        ("#ops", "Invoice #7 paid"),
    ]
    # The SMS/email outbox's reader, one folder up, does not mistake Slack messages for its own.
    from tasks.delivery.local import OutboxChannel

    assert OutboxChannel(root=tmp_path / "outbox").messages() == []


@pytest.mark.parametrize("token", ["", "changeme", "<your bot token>"])
def test_an_empty_or_placeholder_token_means_the_local_stand_in(tmp_path: Path, token: str) -> None:
    assert isinstance(build_slack_sender(_settings(tmp_path, slack_bot_token=token)), LocalSlackSender)


def test_with_a_token_the_real_sdk_posts_and_nothing_is_written_locally(tmp_path: Path, fake_slack: FakeSlack) -> None:
    settings = _settings(tmp_path, slack_bot_token="xoxb-1-test", slack_base_url=fake_slack.url)
    sender = build_slack_sender(settings)
    assert isinstance(sender, WebClientSender)
    sender.post_message(channel="#ops", text="Job #1042 closed", blocks=BLOCKS)
    (post,) = fake_slack.posts
    assert post["channel"] == "#ops" and post["text"] == "Job #1042 closed"
    assert fake_slack.calls[-1].authorization == "Bearer xoxb-1-test"
    assert not (tmp_path / "outbox").exists()


def test_without_a_token_or_channels_every_kind_goes_to_the_default_local_channel(tmp_path: Path) -> None:
    routes = routes_from_settings(_settings(tmp_path))
    assert {routes.channel_for(kind) for kind in NotificationKind} == {LOCAL_DEFAULT_CHANNEL}


def test_configured_channels_keep_their_documented_meaning_with_or_without_a_token(tmp_path: Path) -> None:
    for token in (None, "xoxb-1-test"):
        routes = routes_from_settings(
            _settings(
                tmp_path, slack_bot_token=token, slack_channels='{"job_closed": "#field", "client_created": null}'
            )
        )
        assert routes.channel_for("job_closed") == "#field"
        assert routes.channel_for("client_created") is None  # switched off
        assert routes.channel_for("invoice_paid") is None  # no default: skipped, as docs/slack.md says
        assert (
            routes_from_settings(_settings(tmp_path, slack_bot_token=token, slack_default_channel="#all")).channel_for(
                "invoice_paid"
            )
            == "#all"
        )
    # With a token and nothing configured, nothing is posted (the documented "kind with no channel is skipped").
    assert routes_from_settings(_settings(tmp_path, slack_bot_token="xoxb-1-test")).channel_for("job_closed") is None


def test_a_closed_job_is_queued_and_dispatched_to_the_local_outbox(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    routes = routes_from_settings(settings)
    planned = plan_notification(topic="JOB_CLOSED", item_id="J1", account_id="A", fetch=fetcher(job=job_node(id="J1")))
    outcome = enqueue_notification(engine, planned, routes, topic="JOB_CLOSED", item_id="J1")
    assert outcome.status == "queued" and outcome.channel == LOCAL_DEFAULT_CHANNEL

    result = dispatch_pending(engine, build_slack_sender(settings), pacer=ChannelPacer(min_interval_s=0))
    assert (result.sent, result.failed, result.deferred) == (1, 0, 0)
    with unit_of_work(engine) as session:
        assert outbox.outbox_counts(session).as_dict() == {"pending": 0, "sent": 1, "failed": 0}
    (message,) = LocalSlackSender(root=tmp_path / "outbox" / "slack").messages()
    assert message["channel"] == LOCAL_DEFAULT_CHANNEL
    assert message["text"].startswith("Job #") and " closed: " in message["text"]
    assert message["blocks"] and message["blocks"][0]["type"] == "section"


def test_plain_text_makes_mrkdwn_readable() -> None:
    assert plain_text("*Job closed* <https://x/j/1|#1042 Heater> for A &amp; B &lt;C&gt;") == (
        "*Job closed* #1042 Heater for A & B <C>"
    )


@pytest.mark.prefect
def test_slack_notify_flow_does_not_fail_without_a_token(
    prefect_server: None, own_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's case: no SLACK_* variables at all. The run completes and the message is on disk."""
    from flows.slack_notify import slack_notify
    from tasks.jobber.factory import reset_jobber_clients
    from tasks.settings import reset_settings_cache
    from tasks.store.migrate import upgrade_database

    monkeypatch.setenv("JOBBERFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'flow.db'}")
    monkeypatch.setenv("JOBBER_BASE_URL", own_sandbox.url)
    monkeypatch.setenv("JOBBER_API_KEY", own_sandbox.issue_tokens()["access_token"])
    for name in ("JOBBER_CLIENT_ID", "JOBBER_CLIENT_SECRET", "JOBBER_API_SECRET", "JOBBER_REFRESH_TOKEN"):
        monkeypatch.setenv(name, "")
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNELS", "SLACK_DEFAULT_CHANNEL", "SLACK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    reset_jobber_clients()
    upgrade_database()  # flow runs check the schema, never migrate
    try:
        store = own_sandbox.store
        job = next(j for j in store.jobs if j.job_status != "archived" and j.job_status != "closed")
        store.close_job(job_id=job.id)
        outcome = slack_notify("JOB_CLOSED", job.id, store.account_id)
        assert outcome.status == "queued" and outcome.channel == LOCAL_DEFAULT_CHANNEL
        (message,) = LocalSlackSender(root=tmp_path / "outbox" / "slack").messages()
        assert message["channel"] == LOCAL_DEFAULT_CHANNEL and f"Job #{job.job_number} closed" in message["text"]
    finally:
        reset_jobber_clients()
        reset_settings_cache()
