"""Shared fixtures: databases (SQLite and PostgreSQL), the Jobber sandbox, a client connected to it,
and one Prefect test server for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

# Before anything imports prefect: no telemetry offline, quiet logs, a private Prefect home.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DO_NOT_TRACK", "1")

import pytest  # noqa: E402

PG_ADMIN_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)


def _postgres_admin_url() -> str | None:
    override = os.environ.get("TEST_POSTGRES_URL")
    candidates = (override,) if override else PG_ADMIN_URLS
    import sqlalchemy as sa

    for url in candidates:
        try:
            engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            engine.dispose()
            return url
        except Exception:  # noqa: BLE001, S112 - try the next candidate
            continue
    return None


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (skipped with a reason when none is reachable)."""
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (set TEST_POSTGRES_URL to use another)")
    import sqlalchemy as sa

    name = f"jobberflow_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    yield url
    from tasks.store.db import dispose_engines

    dispose_engines()
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _reset_postgres(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: every store test runs once on SQLite and once on PostgreSQL."""
    from tasks.store.db import dispose_engines
    from tasks.store.migrate import upgrade_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_server_url")
        dispose_engines()
        _reset_postgres(url)
    upgrade_database(url)
    yield url
    dispose_engines()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[object]:
    """One seeded Jobber sandbox for read-only tests (tests that change data start their own)."""
    from sandbox.jobber import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(seed=7)) as server:
        yield server


@pytest.fixture
def jobber(sandbox: object) -> Iterator[object]:
    """A JobberClient with a valid token for the session's sandbox."""
    from tasks.jobber.auth import StaticTokenProvider
    from tasks.jobber.client import JobberClient

    client = JobberClient(
        graphql_url=sandbox.url + "/api/graphql",  # type: ignore[attr-defined]
        api_version="2025-04-16",
        tokens=StaticTokenProvider(sandbox.issue_tokens()["access_token"]),  # type: ignore[attr-defined]
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server (SQLite) for the whole session: flow tests share it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
