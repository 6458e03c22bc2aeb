"""Making snapshots, checking them, listing them and deleting old ones (retention).

SQLite: one step of the online backup API (a consistent copy while the app keeps writing), then gzip.
PostgreSQL: every project table read in one REPEATABLE READ, READ ONLY transaction, as gzipped JSON Lines.
The archive is written as `.partial` and renamed; the manifest comes last.
"""

from __future__ import annotations

import gzip
import hmac
import io
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tasks.errors import BackupError, BackupIntegrityError
from tasks.store.backup.manifest import (
    ARCHIVE_PREFIX,
    LOGICAL_ARCHIVE,
    LOGICAL_FORMAT,
    LOGICAL_VERSION,
    MANIFEST_SUFFIX,
    READ_CHUNK,
    SQLITE_ARCHIVE,
    ArchiveFormat,
    BackupManifest,
    as_utc,
    file_sha256,
    iso,
    private_file,
    write_atomic,
)
from tasks.store.backup.rows import Summary, consistent_read, json_line, read_tables, summarize
from tasks.store.db import build_engine, normalize_url

logger = logging.getLogger(__name__)


def create_backup(*, database_url: str, backup_dir: Path, now: datetime | None = None) -> BackupManifest:
    """Snapshot the database at `database_url` into `backup_dir` and write its manifest.

    SQLite: one step of the online backup API (a consistent copy while the app keeps writing), then gzip.
    PostgreSQL: every project table read in one REPEATABLE READ, READ ONLY transaction, as gzipped JSON Lines.
    """
    created_at = as_utc(now or datetime.now(UTC))
    url = normalize_url(database_url)
    kind = make_url(url).get_backend_name()
    if kind not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL databases, not {kind!r}")
    # Snapshots hold the account's OAuth tokens: only the owner may read them.
    backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = _free_stem(backup_dir, created_at)
    if kind == "sqlite":
        archive = backup_dir / f"{stem}{SQLITE_ARCHIVE}"
        archive_format: ArchiveFormat = "sqlite-gzip"
        summary = _snapshot_sqlite(url, archive)
    else:
        archive = backup_dir / f"{stem}{LOGICAL_ARCHIVE}"
        archive_format = "jsonl-gzip"
        summary = _export_logical(url, archive, created_at)
    if summary.revision is None:
        archive.unlink(missing_ok=True)
        raise BackupError(
            "the database has no Alembic revision (no alembic_version row): run `jobberflow db upgrade` first"
        )
    manifest = BackupManifest(
        path=backup_dir / f"{stem}{MANIFEST_SUFFIX}",
        created_at=created_at,
        database=kind,
        source=make_url(url).render_as_string(hide_password=True),
        alembic_revision=summary.revision,
        archive=archive.name,
        archive_format=archive_format,
        archive_bytes=archive.stat().st_size,
        archive_sha256=file_sha256(archive),
        row_counts=summary.row_counts,
        checksums=summary.checksums,
    )
    write_atomic(manifest.path, json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n")
    return manifest


def verify_backup(manifest_path: Path) -> None:
    """Raise `BackupIntegrityError` unless the archive beside the manifest has the recorded size and SHA-256."""
    manifest = BackupManifest.read(manifest_path)
    archive = manifest.archive_path
    if not archive.is_file():
        raise BackupIntegrityError(f"the archive {archive} named by {manifest_path.name} is missing")
    size = archive.stat().st_size
    if size != manifest.archive_bytes:
        raise BackupIntegrityError(
            f"the archive {archive.name} was truncated or altered: it has {size} bytes, "
            f"the manifest records {manifest.archive_bytes}"
        )
    actual = file_sha256(archive)
    if not hmac.compare_digest(actual, manifest.archive_sha256):
        raise BackupIntegrityError(
            f"the archive {archive.name} was altered or damaged: its SHA-256 is {actual}, "
            f"the manifest records {manifest.archive_sha256}"
        )


def list_backups(backup_dir: Path) -> list[BackupManifest]:
    """Complete snapshots in `backup_dir` (those with a readable manifest), newest first."""
    if not backup_dir.is_dir():
        return []
    found: list[BackupManifest] = []
    for path in backup_dir.glob(f"{ARCHIVE_PREFIX}*{MANIFEST_SUFFIX}"):
        try:
            found.append(BackupManifest.read(path))
        except BackupError as exc:
            logger.warning("ignoring %s: %s", path.name, exc)
    return sorted(found, key=lambda m: (m.created_at, m.path.name), reverse=True)


def apply_retention(
    backup_dir: Path, *, keep_last: int = 7, keep_daily: int = 30, now: datetime | None = None
) -> list[Path]:
    """Delete snapshots outside the policy; return the deleted files (archives and manifests).

    Kept: the newest `keep_last` snapshots, the newest snapshot of each of the last `keep_daily` UTC days
    (today included), anything dated after `now`, and always the newest snapshot.
    """
    if keep_last < 0 or keep_daily < 0:
        raise ValueError("keep_last and keep_daily must be zero or more")
    current = as_utc(now or datetime.now(UTC))
    snapshots = list_backups(backup_dir)
    keep: set[Path] = {m.path for m in snapshots[: max(keep_last, 1)]}
    first_day = current.date() - timedelta(days=keep_daily - 1)
    seen_days: set[date] = set()
    for manifest in snapshots:  # newest first: the first one seen for a day is that day's newest
        created = as_utc(manifest.created_at)
        if created > current:
            keep.add(manifest.path)
            continue
        day = created.date()
        if keep_daily and day >= first_day and day not in seen_days:
            seen_days.add(day)
            keep.add(manifest.path)
    deleted: list[Path] = []
    for manifest in snapshots:
        if manifest.path in keep:
            continue
        # The manifest goes first: a snapshot without one is never listed, so a half-deleted pair stays invisible.
        for path in (manifest.path, manifest.archive_path):
            if path.exists():
                path.unlink()
                deleted.append(path)
    return deleted


def _snapshot_sqlite(url: str, archive: Path) -> Summary:
    source = make_url(url).database
    if not source or source == ":memory:" or source.startswith("file:"):
        raise BackupError(f"can only back up a SQLite database file, not {source!r}")
    if not Path(source).is_file():
        raise BackupError(f"the SQLite database {source} does not exist")
    with tempfile.TemporaryDirectory(dir=archive.parent, prefix=".snapshot-") as tmp:
        copy = Path(tmp) / "snapshot.db"
        with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(copy)) as dst:
            # One step (pages=-1) copies every page under a single read transaction: a consistent snapshot,
            # while the app's WAL-mode writers carry on.
            src.backup(dst, pages=-1)
            # A self-contained file: no -wal beside it when it is unpacked.
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise BackupError(f"the SQLite snapshot failed its integrity check: {check}")
        engine = sa.create_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as conn:
                summary = summarize(read_tables(conn))
        finally:
            engine.dispose()
        partial = private_file(archive.with_name(archive.name + ".partial"))
        with copy.open("rb") as raw, partial.open("wb") as out:
            with gzip.GzipFile(filename=archive.name[: -len(".gz")], mode="wb", fileobj=out, mtime=0) as packed:
                shutil.copyfileobj(raw, packed, READ_CHUNK)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(archive)
    return summary


def _export_logical(url: str, archive: Path, created_at: datetime) -> Summary:
    partial = private_file(archive.with_name(archive.name + ".partial"))
    engine = build_engine(url)
    try:
        with consistent_read(engine) as conn, partial.open("wb") as out:
            packed = gzip.GzipFile(filename=archive.name[: -len(".gz")], mode="wb", fileobj=out, mtime=0)
            # Closing the text layer closes the gzip stream (writing its trailer); `out` stays open for fsync.
            with io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as sink:
                header = {
                    "format": LOGICAL_FORMAT,
                    "version": LOGICAL_VERSION,
                    "database": conn.dialect.name,
                    "created_at": iso(created_at),
                }
                sink.write(json_line(header))
                summary = summarize(read_tables(conn), sink=sink)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    partial.replace(archive)
    return summary


def _free_stem(backup_dir: Path, created_at: datetime) -> str:
    base = f"{ARCHIVE_PREFIX}{created_at:%Y%m%dT%H%M%SZ}"
    stem, n = base, 1
    while any(
        (backup_dir / f"{stem}{suffix}").exists() for suffix in (MANIFEST_SUFFIX, SQLITE_ARCHIVE, LOGICAL_ARCHIVE)
    ):
        n += 1
        stem = f"{base}-{n}"
    return stem
