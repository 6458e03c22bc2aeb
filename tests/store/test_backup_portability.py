"""Backups move between SQLite and PostgreSQL, and a snapshot of an older schema restores and is migrated to head."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tasks.store.backup import (
    create_backup,
    restore_backup,
)
from tasks.store.db import build_engine, unit_of_work
from tasks.store.migrate import current_revision, upgrade_database
from tasks.store.models import (
    Account,
    JobberToken,
)
from tests.store.backup_support import NOW, NewDatabase, dump, kind_of, seed


@pytest.mark.parametrize(("source_kind", "target_kind"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_a_snapshot_moves_between_sqlite_and_postgresql(
    source_kind: str, target_kind: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    source = new_database(source_kind)
    upgrade_database(source)
    seed(source)
    manifest = create_backup(database_url=source, backup_dir=tmp_path / "backups", now=NOW)
    target = new_database(target_kind)

    report = restore_backup(manifest.path, database_url=target)

    # Same content gives the same checksums on both databases.
    assert report.checksums == manifest.checksums
    assert report.row_counts == manifest.row_counts
    restored = dump(target)
    assert len(restored.pop("restore_marks")) == 1  # the restored copy is marked
    assert restored == {k: v for k, v in dump(source).items() if k != "restore_marks"}


@pytest.mark.parametrize("target_state", ["new", "migrated to head"])
def test_a_snapshot_of_an_older_schema_restores_and_is_migrated(
    target_state: str, db_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    kind = kind_of(db_url)
    source = new_database(kind)
    upgrade_database(source, "0001")  # before the synced tables existed
    engine = build_engine(source)
    try:
        with unit_of_work(engine) as s:
            s.add(Account(key="default", name="Søren's Lawn & Snow ❄", status="connected"))
            s.flush()
            # Core, naming only 0001's columns: the ORM class would insert every column of today's schema
            s.execute(sa.insert(JobberToken.__table__).values(account_key="default", refresh_token="r-1", generation=2))
    finally:
        engine.dispose()
    manifest = create_backup(database_url=source, backup_dir=tmp_path / "backups", now=NOW)
    assert manifest.alembic_revision == "0001"
    assert manifest.row_counts == {"alembic_version": 1, "accounts": 1, "jobber_tokens": 1}
    target = new_database(kind)
    if target_state == "migrated to head":
        upgrade_database(target)

    report = restore_backup(manifest.path, database_url=target)

    assert report.restored_revision == "0001"
    assert report.revision == current_revision(db_url)  # head
    # the revision moved on, and the tokens' rows gained the columns of later migrations (0010's refresh lease)
    assert report.mismatches() == ["alembic_version", "jobber_tokens"]
    assert report.row_counts["clients"] == 0
    restored = dump(target)
    assert [(r["key"], r["name"]) for r in restored["accounts"]] == [("default", "Søren's Lawn & Snow ❄")]
    assert [(r["refresh_token"], r["generation"]) for r in restored["jobber_tokens"]] == [("r-1", 2)]
