"""Fixtures of the store tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.store.db import dispose_engines
from tests.store.backup_support import NewDatabase


@pytest.fixture
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes new, empty (not even migrated) databases: a new file for SQLite, a new database on the server."""
    created: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'new-{uuid.uuid4().hex[:8]}.db'}"
        server = request.getfixturevalue("postgres_server_url")
        name = f"jobberflow_restore_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        created.append((server, name))
        return server.rsplit("/", 1)[0] + "/" + name

    yield make
    dispose_engines()
    for server, name in created:
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
