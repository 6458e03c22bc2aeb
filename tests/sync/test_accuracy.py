"""The accuracy report: Jobber and the database compared by counts and field by field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from sandbox.jobber import SandboxConfig, SandboxServer
from tasks.store.db import build_engine
from tasks.sync.accuracy import accuracy_markdown, compare_resource
from tasks.sync.reconcile import sync_resource
from tests.sync.test_reconcile import make_client


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(
        SandboxConfig(seed=17, clients=25, jobs=20, invoices=10, quotes=4, users=3, restore_rate=5000)
    ) as server:
        yield server


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = build_engine(db_url)
    yield engine
    engine.dispose()


def test_a_fresh_copy_is_fully_accurate_and_a_stale_one_is_reported(sandbox: SandboxServer, engine: Engine) -> None:
    client = make_client(sandbox)
    sync_resource(client, engine, "clients", full=True)
    clean = compare_resource(client, engine, "clients", sample=25)
    assert (clean.jobber_count, clean.database_count, clean.sampled, clean.accuracy) == (25, 25, 25, 1.0)

    changed = sandbox.store.clients[3]
    sandbox.store.update_client(changed.id, first_name="Renamed")
    sandbox.store.create_client(first_name="New", last_name="Customer")
    stale = compare_resource(client, engine, "clients", sample=30)
    assert stale.jobber_count == 26 and stale.database_count == 25
    assert stale.accuracy < 1.0
    assert any(changed.id in d and "first_name" in d and "Renamed" in d for d in stale.differences)
    assert len(stale.missing_in_database) == 1
    report = accuracy_markdown([stale])
    assert "| clients | 26 | 25 |" in report and "missing in the database" in report
