"""Sync against the sandbox, on SQLite and PostgreSQL: backfill, incremental, resume, refresh, bad data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from sandbox.jobber import SandboxConfig, SandboxServer
from tasks.errors import JobberTransportError
from tasks.jobber.auth import StaticTokenProvider
from tasks.jobber.client import JobberClient
from tasks.store.db import build_engine, unit_of_work
from tasks.store.models import Client, ClientPhone, Invoice, Job, Quote, SyncWatermark, Visit, VisitAssignment
from tasks.sync.reconcile import sync_all, sync_resource
from tasks.sync.refresh import refresh_record

SIZES = {"clients": 120, "jobs": 150, "invoices": 110, "quotes": 40, "users": 6}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:  # a private, writable sandbox per test
    with SandboxServer(SandboxConfig(seed=11, restore_rate=5000, **SIZES)) as server:
        yield server


def make_client(sandbox: SandboxServer, transport: httpx.BaseTransport | None = None) -> JobberClient:
    return JobberClient(
        graphql_url=sandbox.url + "/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider(sandbox.issue_tokens()["access_token"]),
        transport=transport,
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = build_engine(db_url)
    yield engine
    engine.dispose()


def count(engine: Engine, model: Any) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_backfill_copies_every_record_with_children(sandbox: SandboxServer, engine: Engine) -> None:
    client = make_client(sandbox)
    results = sync_all(client, engine, full=True)
    store = sandbox.store
    assert count(engine, Client) == len(store.clients)
    assert count(engine, Job) == len(store.jobs)
    assert count(engine, Invoice) == len(store.invoices)
    assert count(engine, Visit) == len(store.visits)
    assert count(engine, VisitAssignment) > 0 and count(engine, ClientPhone) > 0
    by_resource = {r.resource: r for r in results}
    assert by_resource["clients"].created["clients"] == len(store.clients)
    assert all(r.throttled == 0 and r.rate_limited == 0 for r in results)
    with unit_of_work(engine) as session:
        john = session.scalars(select(Client).where(Client.name == "John Smith")).one()
        assert john.primary_email == "john.smith@example.com" and john.sms_allowed is True
        assert john.raw["firstName"] == "John" and john.fetched_at is not None
        heater = session.scalars(
            select(Job).where(Job.title == "Water Heater Installation", Job.client_id == john.id)
        ).first()
        assert heater is not None and heater.job_status != "archived"
        names = session.scalars(
            select(VisitAssignment.user_name)
            .join(Visit, Visit.id == VisitAssignment.visit_id)
            .where(Visit.job_id == heater.id)
        ).all()
        assert "Mike Thompson" in names


def test_incremental_sync_reads_only_what_changed(sandbox: SandboxServer, engine: Engine) -> None:
    client = make_client(sandbox)
    sync_all(client, engine, full=True)
    job = next(j for j in sandbox.store.jobs if j.job_status != "archived")
    sandbox.store.close_job(job_id=job.id)
    new_client = sandbox.store.create_client(first_name="Priya", last_name="Raman", email="priya@example.com")
    calls_before = client.stats.requests
    results = sync_all(client, engine)
    by_resource = {r.resource: r for r in results}
    assert by_resource["clients"].created.get("clients") == 1
    assert by_resource["jobs"].updated.get("jobs", 0) >= 1
    assert client.stats.requests - calls_before <= 6, "one page per resource when little changed"
    with unit_of_work(engine) as session:
        assert session.get(Job, job.id).job_status == "archived"  # type: ignore[union-attr]
        assert session.get(Client, new_client.id) is not None


class FailAfter(httpx.BaseTransport):
    """A real HTTP transport that breaks (Jobber outage) after `n` requests."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.n -= 1
        if self.n < 0:
            raise httpx.ConnectError("Jobber is down")
        return self.inner.handle_request(request)


@pytest.mark.parametrize("resource", ["clients", "jobs", "quotes"])
def test_a_run_killed_halfway_resumes_and_loses_nothing(sandbox: SandboxServer, engine: Engine, resource: str) -> None:
    broken = make_client(sandbox, transport=FailAfter(2))
    broken.max_retries = 0
    with pytest.raises(JobberTransportError, match="Could not connect"):
        sync_resource(broken, engine, resource, page_size=10)
    model = {"clients": Client, "jobs": Job, "quotes": Quote}[resource]
    expected = len(getattr(sandbox.store, resource))
    kept = count(engine, model)
    assert 10 <= kept < expected, "the committed pages stay, the rest is not there yet"
    with unit_of_work(engine) as session:
        mark = session.get(SyncWatermark, ("default", resource))
        assert mark is not None and (mark.watermark is not None or mark.resume_cursor is not None)
    healthy = make_client(sandbox)
    result = sync_resource(healthy, engine, resource, page_size=10)
    assert count(engine, model) == expected
    assert result.records <= expected - kept + 5, "resumed where it stopped, not restarted from scratch"


def test_webhook_refresh_updates_and_destroy_deletes(sandbox: SandboxServer, engine: Engine) -> None:
    client = make_client(sandbox)
    sync_resource(client, engine, "jobs")
    job = next(j for j in sandbox.store.jobs if j.job_status != "archived")
    sandbox.store.close_job(job_id=job.id)
    assert refresh_record(client, engine, topic="JOB_CLOSED", item_id=job.id).action == "updated"
    with unit_of_work(engine) as session:
        assert session.get(Job, job.id).job_status == "archived"  # type: ignore[union-attr]
    assert refresh_record(client, engine, topic="JOB_DESTROY", item_id=job.id).action == "deleted"
    assert refresh_record(client, engine, topic="PAYOUT_CREATE", item_id="x").action == "ignored"
    with unit_of_work(engine) as session:
        assert session.get(Job, job.id) is None


def test_full_sync_deletes_what_jobber_no_longer_has(sandbox: SandboxServer, engine: Engine) -> None:
    client = make_client(sandbox)
    sync_resource(client, engine, "clients", full=True)
    victim = sandbox.store.clients[5]
    sandbox.store.destroy(victim.id)
    result = sync_resource(client, engine, "clients", full=True)
    assert result.deleted == 1
    with unit_of_work(engine) as session:
        assert session.get(Client, victim.id) is None


def test_bad_records_are_stored_and_reported_not_fatal(engine: Engine) -> None:
    nodes = [
        {
            "id": "c1",
            "name": None,
            "firstName": "A",
            "updatedAt": "2026-01-01T00:00:00Z",
            "isArchived": "no",
            "emails": None,
            "phones": [{"number": "+15125550100", "primary": True, "smsAllowed": True}],
        },
        {"id": None, "name": "no id"},
        {"id": "c3", "name": "Ok", "updatedAt": "not a date", "tags": {"nodes": [{"label": "vip"}]}},
    ]
    body = {"data": {"clients": {"nodes": nodes, "pageInfo": {"endCursor": None, "hasNextPage": False}}}}
    client = JobberClient(
        graphql_url="https://jobber.test/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider("t"),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)),
    )
    result = sync_resource(client, engine, "clients")
    problems = {(i.record_id, i.problem) for i in result.issues}
    assert ("c1", "name is null") in problems
    assert ("c1", "isArchived is 'no', expected true/false") in problems
    assert any(i is None and "without an id" in p for i, p in problems)
    assert ("c3", "updatedAt is 'not a date', expected an ISO 8601 time") in problems
    with unit_of_work(engine) as session:
        stored = session.get(Client, "c1")
        assert stored is not None and stored.raw["isArchived"] == "no" and stored.primary_phone == "+15125550100"
        assert session.get(Client, "c3").tags == ["vip"]  # type: ignore[union-attr]


def test_unknown_enum_values_are_kept_and_reported(engine: Engine) -> None:
    node = {
        "id": "j1",
        "jobNumber": "12",
        "title": "X",
        "jobStatus": "teleported",
        "total": "abc",
        "updatedAt": "2026-01-01T00:00:00Z",
        "visits": {"nodes": [None]},
    }
    body = {"data": {"jobs": {"nodes": [node], "pageInfo": {"hasNextPage": False}}}}
    client = JobberClient(
        graphql_url="https://jobber.test/api/graphql",
        api_version="2025-04-16",
        tokens=StaticTokenProvider("t"),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=body)),
    )
    result = sync_resource(client, engine, "jobs")
    problems = [i.problem for i in result.issues]
    assert "jobStatus has the unknown value 'teleported' (stored as is)" in problems
    assert "total is 'abc', expected a number" in problems
    with unit_of_work(engine) as session:
        job = session.get(Job, "j1")
        assert job is not None and job.job_status == "teleported" and job.job_number == 12
