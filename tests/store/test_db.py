"""The SQLite database holds OAuth refresh tokens, phones and emails: owner-only on disk, and its errors never
carry the values they were given."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.store import accounts
from tasks.store.db import build_engine, dispose_engines, get_engine, unit_of_work
from tasks.store.migrate import upgrade_database
from tasks.store.models import JobberToken


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems run with (022): files 0644 and folders 0755 unless we say otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
        dispose_engines()


def test_a_new_database_its_wal_files_and_its_new_folder_are_owner_only(tmp_path: Path, usual_umask: None) -> None:
    home = tmp_path / "data" / "jobberflow"
    db = home / "jobberflow.db"
    url = f"sqlite:///{db}"
    upgrade_database(url)
    engine = get_engine(url)
    with unit_of_work(engine) as session:  # a write while connected: WAL mode keeps -wal and -shm around
        accounts.save_tokens(
            session, account_key="default", access_token="at", refresh_token="rt", access_expires_at=None
        )
        assert (home / "jobberflow.db-wal").exists() and (home / "jobberflow.db-shm").exists()
        for name in ("jobberflow.db", "jobberflow.db-wal", "jobberflow.db-shm"):
            assert mode(home / name) == 0o600, f"{name} is {oct(mode(home / name))}"
    assert mode(home) == 0o700
    assert mode(tmp_path / "data") == 0o700  # created for it as well


def test_an_existing_folder_is_left_alone(tmp_path: Path, usual_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    build_engine(f"sqlite:///{shared / 'jobberflow.db'}").dispose()
    assert mode(shared) == 0o755
    assert mode(shared / "jobberflow.db") == 0o600


def test_an_existing_world_readable_database_is_made_owner_only(tmp_path: Path, usual_umask: None) -> None:
    db = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)
    engine = build_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        conn.execute(sa.text("select 1"))
    engine.dispose()
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        if (tmp_path / name).exists():
            assert mode(tmp_path / name) == 0o600, name


def test_database_errors_name_the_statement_but_never_the_values(db_url: str) -> None:
    engine = get_engine(db_url)
    with unit_of_work(engine) as session:
        accounts.save_tokens(
            session, account_key="default", access_token="at", refresh_token="rt", access_expires_at=None
        )
    secret = "refresh-token-that-must-not-leak-7d1f"  # noqa: S105 - a test value
    with pytest.raises(sa.exc.IntegrityError) as raised, engine.begin() as conn:
        conn.execute(sa.insert(JobberToken).values(account_key="default", refresh_token=secret, generation=1))
    assert "jobber_tokens" in str(raised.value)
    assert secret not in str(raised.value) and secret not in repr(raised.value)
    assert "hidden" in str(raised.value)
