"""Backups: a snapshot restores to exactly the same rows, with a manifest whose counts and checksums prove it, even
while the app keeps writing."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tasks.store.backup import (
    BackupManifest,
    create_backup,
    restore_backup,
    table_checksums,
    verify_backup,
)
from tasks.store.db import build_engine, unit_of_work
from tasks.store.migrate import current_revision, upgrade_database
from tasks.store.models import (
    Base,
    Client,
    ClientEmail,
    Job,
    WebhookInbox,
)
from tests.store.backup_support import NOW, SEEDED, NewDatabase, counts, dump, kind_of, non_empty, seed


def test_restored_database_has_the_same_rows_as_the_original(
    db_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    seed(db_url)
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path / "backups", now=NOW)

    assert non_empty(manifest.row_counts) == {"alembic_version": 1, **SEEDED}
    assert manifest.total_rows == sum(SEEDED.values())

    target = new_database(kind_of(db_url))
    report = restore_backup(manifest.path, database_url=target)

    assert report.row_counts == manifest.row_counts
    assert report.checksums == manifest.checksums
    assert report.mismatches() == []
    assert report.revision == current_revision(db_url)
    original, restored = dump(db_url), dump(target)
    for table in Base.metadata.sorted_tables:
        if table.name != "restore_marks":
            assert restored[table.name] == original[table.name], table.name
    # The restored copy is marked: requests planned before it are reconciled with the provider before sending.
    (mark,) = restored["restore_marks"]
    assert mark["snapshot_at"] == manifest.created_at and mark["manifest"] == manifest.path.name
    # Spot-check values a user would look at.
    zoe = next(r for r in restored["clients"] if r["id"] == "Y2xpZW50OjE=")
    assert zoe["name"] == "Zoë Ångström"
    assert zoe["tags"] == ["vip", "ñandú", "🌿"]
    assert zoe["raw"]["balance"] == 12.5 and zoe["raw"]["z"] is None
    assert zoe["jobber_updated_at"] == datetime(2025, 3, 1, 14, 30, 5, 250000, tzinfo=UTC)
    assert next(r for r in restored["clients"] if r["id"] == "Y2xpZW50OjM=")["name"] is None

    # New webhooks still get fresh ids after the restore (PostgreSQL's sequence was moved past the restored ids).
    engine = build_engine(target)
    try:
        with unit_of_work(engine) as s:
            hook = WebhookInbox(
                dedupe_key="after-restore", account_id="a", topic="JOB_CREATE", item_id="x", occurred_at="t", body="{}"
            )
            s.add(hook)
            s.flush()
            assert hook.id == max(r["id"] for r in original["webhook_inbox"]) + 1
    finally:
        engine.dispose()


def test_manifest_records_time_database_revision_counts_and_checksums(db_url: str, tmp_path: Path) -> None:
    seed(db_url)
    backups = tmp_path / "backups"
    manifest = create_backup(database_url=db_url, backup_dir=backups, now=NOW)

    kind = kind_of(db_url)
    ext = "sqlite.gz" if kind == "sqlite" else "jsonl.gz"
    assert manifest.archive_path == backups / f"jobberflow-20250310T180000Z.{ext}"
    assert manifest.path == backups / "jobberflow-20250310T180000Z.manifest.json"
    assert sorted(p.name for p in backups.iterdir()) == sorted([manifest.archive, manifest.path.name])
    # Snapshots hold OAuth tokens: owner-only.
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in backups.iterdir()} == {0o600}

    data = json.loads(manifest.path.read_text(encoding="utf-8"))
    assert data["created_at"] == "2025-03-10T18:00:00.123456+00:00"
    assert data["database"] == kind
    assert data["alembic_revision"] == current_revision(db_url)
    assert data["archive"]["sha256"] == hashlib.sha256(manifest.archive_path.read_bytes()).hexdigest()
    assert data["archive"]["bytes"] == manifest.archive_path.stat().st_size
    assert set(data["tables"]) == {*Base.metadata.tables, "alembic_version"}
    assert data["tables"]["clients"] == {"rows": 3, "checksum": manifest.checksums["clients"]}
    engine = build_engine(db_url)
    try:
        assert manifest.checksums == table_checksums(engine)
    finally:
        engine.dispose()
    assert BackupManifest.read(manifest.path) == manifest
    verify_backup(manifest.path)

    raw = gzip.decompress(manifest.archive_path.read_bytes())
    if kind == "sqlite":
        # The archive is the SQLite file itself: `gunzip` gives a working database.
        unpacked = tmp_path / "unpacked.db"
        unpacked.write_bytes(raw)
        with sqlite3.connect(unpacked) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("SELECT name FROM clients WHERE id = 'Y2xpZW50OjI='").fetchone() == (
                "李小龙 Landscaping Ltd.",
            )
        unpacked.unlink()
    else:
        lines = raw.decode("utf-8").splitlines()
        assert json.loads(lines[0])["format"] == "jobberflow-logical"
        assert json.loads(lines[1])["table"] == "alembic_version"
        assert any("Søren's Lawn & Snow ❄" in line for line in lines)


def test_checksums_notice_a_single_changed_value(db_url: str) -> None:
    seed(db_url)
    engine = build_engine(db_url)
    try:
        before = table_checksums(engine)
        with unit_of_work(engine) as s:
            s.get_one(Job, "am9iOjE=").total = 1234.57
        after = table_checksums(engine)
    finally:
        engine.dispose()
    assert [t for t in before if before[t] != after[t]] == ["jobs"]


def test_snapshot_is_consistent_while_the_app_keeps_writing(
    db_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    seed(db_url)
    writer_engine = build_engine(db_url)
    stop = threading.Event()
    committed = [0]
    failures: list[BaseException] = []

    def keep_writing() -> None:
        # Each transaction adds a client, its email and a webhook row: a consistent snapshot has equally many.
        n = 0
        try:
            while not stop.is_set():
                n += 1
                with unit_of_work(writer_engine) as s:
                    s.add(Client(id=f"live-{n}", name=f"Live {n}", raw={"n": n}, tags=[]))
                    s.flush()
                    s.add(ClientEmail(client_id=f"live-{n}", position=0, address=f"live{n}@example.com"))
                    s.add(
                        WebhookInbox(
                            dedupe_key=f"live-{n}",
                            account_id="a",
                            topic="CLIENT_CREATE",
                            item_id=f"live-{n}",
                            occurred_at="2025-03-10T18:00:00Z",
                            body="{}",
                        )
                    )
                committed[0] = n
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while committed[0] < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        before = committed[0]
        manifest = create_backup(database_url=db_url, backup_dir=tmp_path / "backups", now=NOW)
        during = committed[0]
    finally:
        stop.set()
        writer.join(timeout=30)
        writer_engine.dispose()
    assert not failures
    final = committed[0]
    assert during > before, "the writer should have committed while the backup ran"

    live = manifest.row_counts["clients"] - SEEDED["clients"]
    assert before <= live <= final
    assert manifest.row_counts["client_emails"] - SEEDED["client_emails"] == live
    assert manifest.row_counts["webhook_inbox"] - SEEDED["webhook_inbox"] == live
    assert counts(db_url)["clients"] == SEEDED["clients"] + final

    target = new_database(kind_of(db_url))
    upgrade_database(target)  # an empty, already migrated database is a fine target too
    report = restore_backup(manifest.path, database_url=target)
    assert report.row_counts == manifest.row_counts
    assert report.checksums == manifest.checksums
