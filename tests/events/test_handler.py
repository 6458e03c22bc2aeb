"""The work Jobber events cause (SQLite and PostgreSQL, a live sandbox, a recording SMS channel, the local
Slack stand-in): one refetch per item serves the sync, the review request and Slack; one unit of work
handles a whole batch; a failing Jobber loses nothing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from sandbox.jobber import SandboxServer
from tasks.events import queue
from tasks.events.handler import Context, drain
from tasks.events.routing import initial_state
from tasks.jobber.client import JobberClient
from tasks.reviews.usecases.send import Channels
from tasks.slack.local import LocalSlackSender
from tasks.slack.routing import ChannelRoutes
from tasks.store import inbox
from tasks.store.models import Job, ReviewRequest, WebhookInbox
from tests.reviews.conftest import BRANDING, review_settings


class CountingClient:
    """The real client, counting the GraphQL documents it sends (by operation name)."""

    def __init__(self, client: JobberClient) -> None:
        self._client = client
        self.queries: list[str] = []

    def execute(self, document: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        found = re.search(r"\b(?:query|mutation)\s+(\w+)", document)
        self.queries.append(found.group(1) if found else "?")
        return self._client.execute(document, variables, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def ctx(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels, tmp_path: Path
) -> Iterator[Context]:
    _, client = live
    yield Context(
        engine=engine,
        jobber=CountingClient(client),  # type: ignore[arg-type]
        review=review_settings(),
        branding=BRANDING,
        routes=ChannelRoutes(default="#jobber"),
        channels=channels,
        slack_sender=LocalSlackSender(root=tmp_path / "slack"),
    )


def deliver(sb: SandboxServer, engine: Engine, since: int) -> list[str]:
    """Store the webhooks the sandbox emitted after `since` as the gateway would; their topics."""
    rows = [
        inbox.InboxRow(
            dedupe_key=hashlib.sha256(f"{e.topic}:{e.item_id}:{e.occurred_at}:{e.seq}".encode()).hexdigest(),
            account_id=e.account_id,
            topic=e.topic,
            item_id=e.item_id,
            occurred_at=e.occurred_at,
            body="{}",
            received_at=datetime.now(UTC),
            work_state=initial_state(e.topic),
        )
        for e in sb.store.events[since:]
    ]
    inbox.store_rows(engine, rows)
    return [r.topic for r in rows]


def closable_jobs(sb: SandboxServer, n: int) -> list[Any]:
    jobs = [j for j in sb.store.jobs if j.job_status != "archived" and j.client and not j.client.is_archived]
    return jobs[:n]


def test_a_closed_job_is_synced_requested_and_announced_from_one_fetch(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels, ctx: Context, tmp_path: Path
) -> None:
    sb, _ = live
    job = next(j for j in sb.store.jobs if j.job_number == 1042)
    since = len(sb.store.events)
    sb.store.close_job(job_id=job.id)
    topics = deliver(sb, engine, since)
    assert "JOB_CLOSED" in topics and "JOB_UPDATE" in topics

    result = drain(ctx)

    assert result.batches == 1 and len(result.outcomes) == len(topics)
    queries = ctx.jobber.queries  # type: ignore[attr-defined]
    assert queries.count("EventJob") == 1, f"the job was fetched more than once: {queries}"
    assert not [q for q in queries if q.startswith(("Review", "Slack"))], f"refetched for one consumer: {queries}"
    assert queries == ["EventJob"], f"closing a job should cost one query (its visits come with it): {queries}"
    sent = channels.sms.sent  # type: ignore[attr-defined]
    assert len(sent) == 1 and sent[0].body.startswith("Hi John! How was your Water Heater Installation with Mike?")
    with engine.connect() as conn:
        assert conn.execute(select(Job.id).where(Job.id == job.id)).scalar_one() == job.id
        assert conn.execute(select(func.count()).select_from(ReviewRequest)).scalar_one() == 1
        states = set(conn.execute(select(WebhookInbox.work_state)).scalars())
    assert states == {"done"}
    assert len(list((tmp_path / "slack").glob("*.json"))) == 1, "the job_closed Slack message was not posted"
    closed = next(o for o in result.outcomes if o.topic == "JOB_CLOSED")
    assert closed.refresh in {"created", "updated"} and closed.review.startswith("sent -> John S.")
    assert closed.slack == "queued"
    assert result.run_name().startswith("jobber events: ")
    assert drain(ctx).outcomes == [], "a finished event was handled again"


def test_a_burst_of_closed_jobs_is_one_unit_of_work(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels, ctx: Context
) -> None:
    sb, _ = live
    jobs = closable_jobs(sb, 6)
    since = len(sb.store.events)
    for job in jobs:
        sb.store.close_job(job_id=job.id)
    topics = deliver(sb, engine, since)

    result = drain(ctx)

    assert result.batches == 1, "a burst should be handled in one batch"
    assert len(result.outcomes) == len(topics)
    assert result.fetches == len(jobs), f"{len(topics)} webhooks about {len(jobs)} jobs cost {result.fetches} queries"
    with engine.connect() as conn:
        requests = conn.execute(select(func.count()).select_from(ReviewRequest)).scalar_one()
    assert requests == len(jobs), "one review request per closed job"
    recipients = [m.to for m in channels.sms.sent]  # type: ignore[attr-defined]
    assert len(recipients) == len(set(recipients)), "someone got two messages"


def test_jobber_down_loses_nothing_and_the_events_are_done_once_it_is_back(
    live: tuple[SandboxServer, JobberClient], engine: Engine, channels: Channels, ctx: Context
) -> None:
    from tasks.errors import JobberTransportError

    sb, _ = live
    job = closable_jobs(sb, 1)[0]
    since = len(sb.store.events)
    sb.store.close_job(job_id=job.id)
    deliver(sb, engine, since)

    class Down:
        queries: list[str] = []

        def execute(self, *_a: Any, **_k: Any) -> Any:
            raise JobberTransportError("connection refused")

        def __getattr__(self, name: str) -> Any:
            return getattr(ctx.jobber, name)

    real = ctx.jobber
    ctx.jobber = Down()  # type: ignore[assignment]
    failed = drain(ctx)
    assert failed.outcomes and all(o.status == "retrying" for o in failed.outcomes)
    assert channels.sms.sent == []  # type: ignore[attr-defined]
    assert queue.pending_work(engine).count == len(failed.outcomes)

    ctx.jobber = real
    with engine.begin() as conn:  # the backoff has passed
        conn.execute(WebhookInbox.__table__.update().values(work_not_before=None))  # type: ignore[attr-defined]
    recovered = drain(ctx)
    assert {o.status for o in recovered.outcomes} == {"done"}
    assert len(channels.sms.sent) == 1  # type: ignore[attr-defined]
    assert queue.pending_work(engine).count == 0
