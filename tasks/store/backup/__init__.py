"""Backups of the synced data: consistent snapshots with a manifest, retention, and restore into an empty database.

A snapshot is two files side by side in the backup folder::

    jobberflow-20250102T030405Z.sqlite.gz       SQLite: the database copied with SQLite's online backup API, gzipped
    jobberflow-20250102T030405Z.jsonl.gz        PostgreSQL: a logical export read in one REPEATABLE READ transaction
    jobberflow-20250102T030405Z.manifest.json   when, which database, schema revision, rows and checksums per table,
                                                and the SHA-256 of the archive

The manifest is written last, so a snapshot without one is incomplete and is ignored by listing and retention.

Both archive formats restore into either database: `restore_backup` reads the snapshot as rows (a SQLite snapshot
is opened from a temporary copy), creates the schema at the snapshot's Alembic revision in an empty target, loads
every table parents-first in one transaction, then migrates the target to the current head.

Content checksums (`table_checksums`) are computed the same way on both databases: each row becomes one line of
canonical JSON (sorted keys; datetimes as UTC ISO-8601 with microseconds; floats, booleans and integers as JSON
numbers and booleans; JSON columns as JSON with sorted keys), rows in primary-key order (byte order for text), and
the table's checksum is the SHA-256 of those lines. Equal content gives equal checksums on SQLite and PostgreSQL.

The package, one concern a module (this file only re-exports)::

    manifest.py    what a snapshot holds (BackupManifest), the file names and formats, atomic owner-only writes
    rows.py        tables as canonical rows, in one consistent read: checksums and row counts
    snapshots.py   create_backup, verify_backup, list_backups, apply_retention
    restore.py     restore_backup into an empty database (RestoreReport)

Errors (all `JobberflowError`s)::

    BackupError                  a backup could not be made, read or restored
    ├── BackupIntegrityError     the archive does not match its manifest (altered, truncated or damaged)
    └── RestoreTargetNotEmpty    the restore target already holds rows (names the table)
"""

from tasks.errors import BackupError, BackupIntegrityError, RestoreTargetNotEmpty
from tasks.store.backup.manifest import BackupManifest, file_sha256, render_backup_markdown
from tasks.store.backup.restore import RestoreReport, restore_backup
from tasks.store.backup.rows import row_counts, table_checksums
from tasks.store.backup.snapshots import apply_retention, create_backup, list_backups, verify_backup

__all__ = [
    "BackupError",
    "BackupIntegrityError",
    "BackupManifest",
    "RestoreReport",
    "RestoreTargetNotEmpty",
    "apply_retention",
    "create_backup",
    "file_sha256",
    "list_backups",
    "render_backup_markdown",
    "restore_backup",
    "row_counts",
    "table_checksums",
    "verify_backup",
]
