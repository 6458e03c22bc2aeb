"""Backup retention: the newest snapshots and one per day are kept, the newest is never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tasks.store.backup import (
    apply_retention,
    create_backup,
    list_backups,
)
from tests.store.backup_support import NOW


def test_retention_keeps_the_newest_and_one_per_day(db_url: str, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    times = {
        "a": datetime(2025, 3, 10, 18, 0, tzinfo=UTC),  # newest
        "b": datetime(2025, 3, 10, 17, 0, tzinfo=UTC),
        "c": datetime(2025, 3, 10, 16, 0, tzinfo=UTC),
        "d": datetime(2025, 3, 10, 9, 0, tzinfo=UTC),  # 4th newest, and not the newest of its day
        "e": datetime(2025, 3, 9, 22, 0, tzinfo=UTC),  # newest of the 9th
        "f": datetime(2025, 3, 9, 8, 0, tzinfo=UTC),
        "g": datetime(2025, 3, 8, 12, 0, tzinfo=UTC),
        "h": datetime(2025, 3, 6, 12, 0, tzinfo=UTC),  # the 5th day back: last day kept
        "i": datetime(2025, 3, 5, 12, 0, tzinfo=UTC),  # outside the 5 days
        "j": datetime(2025, 2, 20, 12, 0, tzinfo=UTC),
    }
    made = {label: create_backup(database_url=db_url, backup_dir=backups, now=at) for label, at in times.items()}
    in_progress = backups / "jobberflow-20250101T000000Z.sqlite.gz.partial"
    in_progress.write_bytes(b"a backup being written")

    deleted = apply_retention(backups, keep_last=3, keep_daily=5, now=datetime(2025, 3, 10, 18, 30, tzinfo=UTC))

    gone = {"d", "f", "i", "j"}
    assert sorted(deleted) == sorted(p for label in gone for p in (made[label].path, made[label].archive_path))
    assert [m.created_at for m in list_backups(backups)] == [times[k] for k in "abcegh"]
    assert all(not made[label].archive_path.exists() for label in gone)
    assert in_progress.exists()


def test_retention_never_deletes_the_newest_snapshot(db_url: str, tmp_path: Path) -> None:
    old = [create_backup(database_url=db_url, backup_dir=tmp_path, now=NOW - timedelta(days=d)) for d in (40, 50)]

    deleted = apply_retention(tmp_path, keep_last=0, keep_daily=0, now=NOW)

    assert [m.path for m in list_backups(tmp_path)] == [old[0].path]
    assert sorted(deleted) == sorted([old[1].path, old[1].archive_path])
