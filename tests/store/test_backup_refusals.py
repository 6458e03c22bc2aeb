"""Backups that must not be restored: a damaged or missing archive, a target that already has rows, a snapshot of a
newer jobberflow. Each is refused the way the docs promise, leaving the target alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.store.backup import (
    BackupError,
    BackupIntegrityError,
    RestoreTargetNotEmpty,
    create_backup,
    restore_backup,
    verify_backup,
)
from tasks.store.db import build_engine, unit_of_work
from tasks.store.migrate import upgrade_database
from tasks.store.models import User
from tests.store.backup_support import NOW, NewDatabase, counts, kind_of, non_empty, seed


def test_a_tampered_archive_is_refused_and_the_target_is_left_alone(
    db_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    seed(db_url)
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path / "backups", now=NOW)
    data = bytearray(manifest.archive_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    manifest.archive_path.write_bytes(bytes(data))

    with pytest.raises(BackupIntegrityError, match=f"{manifest.archive} was altered or damaged"):
        verify_backup(manifest.path)
    target = new_database(kind_of(db_url))
    with pytest.raises(BackupIntegrityError, match="SHA-256"):
        restore_backup(manifest.path, database_url=target)
    engine = build_engine(target)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
    finally:
        engine.dispose()


def test_a_missing_archive_is_reported(db_url: str, tmp_path: Path) -> None:
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path, now=NOW)
    manifest.archive_path.unlink()
    with pytest.raises(BackupIntegrityError, match="is missing"):
        verify_backup(manifest.path)


def test_restore_into_a_database_with_rows_is_refused_naming_the_table(
    db_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    seed(db_url)
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path / "backups", now=NOW)
    target = new_database(kind_of(db_url))
    upgrade_database(target)
    engine = build_engine(target)
    try:
        with unit_of_work(engine) as s:
            s.add(User(id="someone-else", full_name="Already here", raw={}))
    finally:
        engine.dispose()

    with pytest.raises(RestoreTargetNotEmpty, match="'users' has rows") as refused:
        restore_backup(manifest.path, database_url=target)

    assert refused.value.table == "users"
    assert non_empty(counts(target)) == {"alembic_version": 1, "users": 1}


def test_a_snapshot_from_a_newer_jobberflow_is_refused(db_url: str, new_database: NewDatabase, tmp_path: Path) -> None:
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path, now=NOW)
    data = json.loads(manifest.path.read_text(encoding="utf-8"))
    data["alembic_revision"] = "9999"
    manifest.path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(BackupError, match="revision '9999', which this version of jobberflow does not know"):
        restore_backup(manifest.path, database_url=new_database(kind_of(db_url)))
