"""The outbox and the dispatcher, through the REAL slack-sdk WebClient against a local Slack endpoint:
duplicates post once, 429 waits for Retry-After, an outage loses nothing, permanent errors fail the row,
each kind goes to its channel, and one channel gets at most one message per interval."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tasks.settings import Settings
from tasks.slack import outbox
from tasks.slack.dispatch import BACKOFF, ChannelPacer, dispatch_pending
from tasks.slack.factory import build_slack_sender
from tasks.slack.notify import enqueue_notification, plan_notification
from tasks.slack.render import render_message
from tasks.slack.routing import ChannelRoutes, routes_from_settings
from tasks.slack.sender import RecordingSlackSender
from tasks.store.db import unit_of_work
from tasks.store.models import SlackOutbox

from .builders import fetcher, invoice_node, job_node, quote_node
from .conftest import FakeSlack

ROUTES = ChannelRoutes(default="#ops")


def _settings(fake: FakeSlack, **overrides: Any) -> Settings:
    return Settings(_env_file=None, slack_bot_token="xoxb-1-test", slack_base_url=fake.url, **overrides)  # type: ignore[call-arg]


def _sender(fake: FakeSlack, **overrides: Any) -> Any:
    return build_slack_sender(_settings(fake, **overrides))


def _queue(engine: Engine, *, channel: str = "#ops", n: int = 1, kind: str = "quote_approved") -> list[int]:
    ids = []
    for i in range(n):
        message = render_message(
            kind, {"quote": {"number": i, "title": f"Quote {i}", "client_name": "Ann", "total": 1, "url": None}}
        )
        with unit_of_work(engine) as session:
            ids.append(
                outbox.enqueue(
                    session,
                    dedupe_key=f"{kind}:{channel}:{i}",
                    channel=channel,
                    kind=kind,
                    payload=message.as_payload(),
                    now=datetime.now(UTC),
                ).outbox_id
            )
    return ids


def _rows(engine: Engine) -> list[SlackOutbox]:
    with unit_of_work(engine) as session:
        return list(session.execute(select(SlackOutbox).order_by(SlackOutbox.id)).scalars())


def _fast() -> ChannelPacer:
    return ChannelPacer(min_interval_s=0.0)


def test_a_duplicate_event_posts_once(engine: Engine, fake_slack: FakeSlack) -> None:
    fetch = fetcher(job=job_node())
    first = enqueue_notification(
        engine,
        plan_notification(topic="JOB_CLOSED", item_id="J1", account_id="A", fetch=fetch),
        ROUTES,
        topic="JOB_CLOSED",
        item_id="J1",
    )
    again = enqueue_notification(
        engine,
        plan_notification(topic="JOB_CLOSED", item_id="J1", account_id="A", fetch=fetch),
        ROUTES,
        topic="JOB_CLOSED",
        item_id="J1",
    )
    assert (first.status, again.status) == ("queued", "duplicate") and first.outbox_id == again.outbox_id

    result = dispatch_pending(engine, _sender(fake_slack), pacer=_fast())
    dispatch_pending(engine, _sender(fake_slack), pacer=_fast())  # a second run finds nothing to post
    assert result.sent == 1 and len(fake_slack.posts) == 1
    post = fake_slack.posts[0]
    assert post["channel"] == "#ops" and "Water Heater Installation" in post["text"] and "John Smith" in post["text"]
    assert fake_slack.calls[0].authorization == "Bearer xoxb-1-test"
    (row,) = _rows(engine)
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1


def test_http_429_waits_for_retry_after_then_posts(engine: Engine, fake_slack: FakeSlack) -> None:
    _queue(engine)
    fake_slack.script = [("429", 1)]
    started = time.monotonic()
    result = dispatch_pending(engine, _sender(fake_slack), pacer=_fast())
    waited = fake_slack.calls[1].at - fake_slack.calls[0].at
    assert result.sent == 1 and len(fake_slack.calls) == 2 and len(fake_slack.posts) == 1
    assert waited >= 1.0 and time.monotonic() - started < 5
    assert _rows(engine)[0].status == "sent"


def test_a_long_retry_after_defers_the_row_instead_of_blocking(engine: Engine, fake_slack: FakeSlack) -> None:
    _queue(engine, channel="#busy", n=2)
    _queue(engine, channel="#quiet", n=1)
    fake_slack.script = [("429", 120)]
    before = datetime.now(UTC)
    result = dispatch_pending(engine, _sender(fake_slack), pacer=_fast())
    rows = _rows(engine)
    # the busy channel waits (both its rows still pending), the other channel is served
    assert [r.status for r in rows] == ["pending", "pending", "sent"]
    assert result.deferred == 1 and result.sent == 1
    assert rows[0].next_attempt_at is not None
    assert outbox_time(rows[0].next_attempt_at) >= before + timedelta(seconds=119)
    assert "rate limited" in (rows[0].last_error or "")


def outbox_time(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_an_outage_delays_notifications_and_loses_none(engine: Engine, fake_slack: FakeSlack) -> None:
    ids = _queue(engine, n=3)
    fake_slack.down = True
    first = dispatch_pending(engine, _sender(fake_slack), pacer=_fast())
    assert first.sent == 0 and first.deferred == 1 and first.stopped and "unavailable" in first.stopped
    assert len(fake_slack.calls) == 1  # one probe, not a hammering of a Slack that is down
    rows = _rows(engine)
    assert [r.status for r in rows] == ["pending"] * 3
    assert rows[0].next_attempt_at is not None and outbox_time(rows[0].next_attempt_at) > datetime.now(UTC)

    # Slack comes back; a later run (here: an hour later) drains everything, each message exactly once
    fake_slack.down = False
    later = datetime.now(UTC) + timedelta(hours=1)
    second = dispatch_pending(engine, _sender(fake_slack), pacer=_fast(), now=lambda: later)
    assert second.sent == 3 and second.counts.as_dict() == {"pending": 0, "sent": 3, "failed": 0}
    assert sorted(p["text"] for p in fake_slack.posts) == sorted({p["text"] for p in fake_slack.posts})
    assert len(fake_slack.posts) == len(ids)


def test_slack_unreachable_counts_as_an_outage(engine: Engine, fake_slack: FakeSlack) -> None:
    _queue(engine)
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = build_slack_sender(_settings(fake_slack), base_url=f"http://127.0.0.1:{port}/api/")
    result = dispatch_pending(engine, sender, pacer=_fast())
    (row,) = _rows(engine)
    assert result.deferred == 1 and row.status == "pending" and "could not be reached" in (row.last_error or "")


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "invalid_auth"])
def test_a_permanent_error_fails_the_row_with_the_error(engine: Engine, fake_slack: FakeSlack, code: str) -> None:
    _queue(engine, channel="#gone")
    _queue(engine, channel="#ops")
    fake_slack.script = [("error", code)]
    result = dispatch_pending(engine, _sender(fake_slack), pacer=_fast())
    failed, sent = _rows(engine)
    assert (failed.status, sent.status) == ("failed", "sent")
    assert code in (failed.last_error or "") and failed.next_attempt_at is None
    assert result.failed == 1 and result.counts.failed == 1
    # failed is final: a later run does not try it again...
    dispatch_pending(engine, _sender(fake_slack), pacer=_fast(), now=lambda: datetime.now(UTC) + timedelta(days=1))
    assert len(fake_slack.calls) == 2
    # ...until someone fixes the cause and requeues it
    with unit_of_work(engine) as session:
        assert outbox.requeue_failed(session, channel="#gone") == 1
    assert dispatch_pending(engine, _sender(fake_slack), pacer=_fast()).sent == 1


def test_channel_routing_from_settings(engine: Engine, fake_slack: FakeSlack) -> None:
    settings = _settings(
        fake_slack,
        slack_channels='{"job_closed": "#field", "invoice_paid": "#money", "client_created": null}',
        slack_default_channel="#general",
    )
    routes = routes_from_settings(settings)
    fetch = fetcher(job=job_node(), invoice=invoice_node(), quote=quote_node(), client={"id": "c", "name": "Ann"})
    outcomes = {
        topic: enqueue_notification(
            engine,
            plan_notification(topic=topic, item_id="X1", account_id="A", fetch=fetch),
            routes,
            topic=topic,
            item_id="X1",
        )
        for topic in ("JOB_CLOSED", "INVOICE_UPDATE", "QUOTE_APPROVED", "CLIENT_CREATE")
    }
    assert outcomes["CLIENT_CREATE"].status == "skipped" and "no channel" in outcomes["CLIENT_CREATE"].reason
    dispatch_pending(engine, build_slack_sender(settings), pacer=_fast())
    channels = {p["text"].split(" ")[0]: p["channel"] for p in fake_slack.posts}
    assert channels == {"Job": "#field", "Invoice": "#money", "Quote": "#general"}


def test_one_channel_gets_at_most_one_message_per_interval(engine: Engine, fake_slack: FakeSlack) -> None:
    _queue(engine, channel="#a", n=3)
    _queue(engine, channel="#b", n=1)
    result = dispatch_pending(engine, _sender(fake_slack), pacer=ChannelPacer(min_interval_s=0.3))
    assert result.sent == 4
    times_a = [c.at for c in fake_slack.calls if c.body["channel"] == "#a"]
    assert all(b - a >= 0.29 for a, b in zip(times_a, times_a[1:], strict=False))
    # the other channel did not wait behind #a
    time_b = next(c.at for c in fake_slack.calls if c.body["channel"] == "#b")
    assert time_b < times_a[-1]


def test_a_run_stops_at_its_time_budget_and_leaves_the_rest_pending(engine: Engine) -> None:
    _queue(engine, n=4)
    ticks = iter(range(100))
    sender = RecordingSlackSender()
    result = dispatch_pending(engine, sender, pacer=_fast(), clock=lambda: float(next(ticks)), budget_s=4)
    assert 0 < result.sent < 4 and result.stopped and "budget" in result.stopped
    assert result.counts.pending == 4 - result.sent


def test_two_dispatchers_never_post_the_same_row(engine: Engine) -> None:
    (row_id,) = _queue(engine)
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        first = outbox.claim(session, outbox_id=row_id, now=now, lease_until=now + timedelta(seconds=60))
    with unit_of_work(engine) as session:
        second = outbox.claim(session, outbox_id=row_id, now=now, lease_until=now + timedelta(seconds=60))
    assert first is not None and second is None
    # a claim whose dispatcher died expires, and the row is due again
    later = now + timedelta(seconds=61)
    with unit_of_work(engine) as session:
        third = outbox.claim(session, outbox_id=row_id, now=later, lease_until=later + timedelta(seconds=60))
    assert third is not None and third.token != first.token
    # the dispatcher that stalled past its lease cannot record anything over the one that took the row over
    with unit_of_work(engine) as session:
        assert not outbox.mark_failed(session, row=first, error="late")
        assert outbox.mark_sent(session, row=third, now=later)
    with unit_of_work(engine) as session:
        assert outbox.outbox_counts(session).as_dict() == {"pending": 0, "sent": 1, "failed": 0}


def test_backoff_grows_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    delays = [BACKOFF.seconds(n, rng=rng) for n in (1, 2, 3, 10, 40)]
    assert 15 <= delays[0] <= 30 and 30 <= delays[1] <= 60 and 60 <= delays[2] <= 120
    assert 1800 <= delays[3] <= 3600 and delays[4] <= 3600
