"""Restoring a snapshot into an empty database, SQLite or PostgreSQL, whichever format the archive is in.

The archive is verified, the target must hold no rows, its schema is created at the snapshot's Alembic
revision, every table is loaded parents-first in one transaction and checked against the manifest before the
commit, PostgreSQL sequences are moved past the restored ids, and the target is migrated to the current head.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tasks.errors import BackupError, BackupIntegrityError, RestoreTargetNotEmpty
from tasks.store.backup.manifest import (
    ALEMBIC_TABLE,
    LOGICAL_FORMAT,
    LOGICAL_VERSION,
    READ_CHUNK,
    BackupManifest,
)
from tasks.store.backup.rows import (
    BATCH,
    TableDigest,
    TableRows,
    TableSpec,
    consistent_read,
    decode,
    project_tables,
    read_tables,
    summarize,
)
from tasks.store.backup.snapshots import verify_backup
from tasks.store.db import build_engine, normalize_url
from tasks.store.migrate import alembic_config, current_revision, upgrade_database
from tasks.store.restores import mark_restored


@dataclass(frozen=True)
class RestoreReport:
    """What a restore put into the target, recomputed from the target after loading."""

    manifest: BackupManifest
    database: str
    restored_revision: str
    revision: str | None
    row_counts: dict[str, int]
    checksums: dict[str, str]

    @property
    def total_rows(self) -> int:
        return sum(n for table, n in self.row_counts.items() if table != ALEMBIC_TABLE)

    def mismatches(self) -> list[str]:
        """Snapshot tables whose restored content differs from the manifest (expected only after a migration)."""
        return [t for t, expected in self.manifest.checksums.items() if self.checksums.get(t) != expected]


def restore_backup(manifest_path: Path, *, database_url: str) -> RestoreReport:
    """Put the snapshot described by `manifest_path` into the empty database at `database_url`.

    Verifies the archive, refuses a target that holds rows, creates the schema at the snapshot's revision, loads
    every table parents-first in one transaction (checking each table against the manifest before committing),
    resets PostgreSQL sequences, then migrates the target to the current head.
    """
    manifest = BackupManifest.read(manifest_path)
    verify_backup(manifest_path)
    revision = manifest.alembic_revision
    if not revision:
        raise BackupError(f"{manifest_path.name} records no schema revision; it cannot be restored")
    _require_known_revision(revision)
    url = normalize_url(database_url)
    kind = make_url(url).get_backend_name()
    if kind not in ("sqlite", "postgresql"):
        raise BackupError(f"restores support SQLite and PostgreSQL databases, not {kind!r}")
    engine = build_engine(url)
    try:
        _refuse_non_empty(engine)
        engine.dispose()
        _move_schema_to(url, revision)
        with _archive_tables(manifest) as tables, engine.begin() as conn:
            _load_tables(conn, tables, manifest)
            if kind == "postgresql":
                _reset_sequences(conn)
        engine.dispose()
        upgrade_database(url)
        with consistent_read(engine) as conn:
            restored = summarize(read_tables(conn))
        # Messages may have gone out after the snapshot: until reconciled with the provider, requests planned
        # before this restore are never sent without asking the provider first (tasks/store/restores.py).
        with Session(engine) as session, session.begin():
            mark_restored(session, snapshot_at=manifest.created_at, manifest=manifest.path.name)
    finally:
        engine.dispose()
    return RestoreReport(
        manifest=manifest,
        database=make_url(url).render_as_string(hide_password=True),
        restored_revision=revision,
        revision=restored.revision,
        row_counts=restored.row_counts,
        checksums=restored.checksums,
    )


def _require_known_revision(revision: str) -> None:
    try:
        ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    except CommandError as exc:
        raise BackupError(
            f"the snapshot was made at schema revision {revision!r}, which this version of jobberflow does not "
            "know: restore it with the jobberflow version that made it (or a newer one)"
        ) from exc


def _refuse_non_empty(engine: Engine) -> None:
    with engine.connect() as conn:
        for table in project_tables(conn):
            if table.name == ALEMBIC_TABLE:
                continue
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
                raise RestoreTargetNotEmpty(
                    f"the target database is not empty: table {table.name!r} has rows. "
                    "Restore into a new, empty database (or empty this one first).",
                    table=table.name,
                )


def _move_schema_to(url: str, revision: str) -> None:
    """Bring the (empty) target's schema to exactly `revision`, up or down."""
    current = current_revision(url)
    if current == revision:
        return
    config = alembic_config(url)
    ancestors = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions("base", revision)}
    if current is None or current in ancestors:
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


@contextmanager
def _archive_tables(manifest: BackupManifest) -> Iterator[TableRows]:
    """The snapshot's tables as (spec, canonical rows), whichever format the archive is in."""
    if manifest.archive_format == "sqlite-gzip":
        with tempfile.TemporaryDirectory(prefix="jobberflow-restore-") as tmp:
            copy = Path(tmp) / "snapshot.db"
            with gzip.open(manifest.archive_path, "rb") as packed, copy.open("wb") as out:
                shutil.copyfileobj(packed, out, READ_CHUNK)
            engine = sa.create_engine(f"sqlite:///{copy}")
            try:
                with engine.connect() as conn:
                    yield read_tables(conn)
            finally:
                engine.dispose()
    elif manifest.archive_format == "jsonl-gzip":
        with gzip.open(manifest.archive_path, "rt", encoding="utf-8") as fh:
            header = _parse_line(fh.readline(), manifest)
            if not isinstance(header, dict) or header.get("format") != LOGICAL_FORMAT:
                raise BackupIntegrityError(f"{manifest.archive} is not a jobberflow logical export")
            if header.get("version") != LOGICAL_VERSION:
                raise BackupError(f"{manifest.archive} has export version {header.get('version')!r}")
            yield _read_jsonl_tables(fh, manifest)
    else:
        raise BackupError(f"unknown archive format {manifest.archive_format!r} in {manifest.path.name}")


def _read_jsonl_tables(fh: IO[str], manifest: BackupManifest) -> TableRows:
    while line := fh.readline():
        head = _parse_line(line, manifest)
        if not isinstance(head, dict) or "table" not in head:
            raise BackupIntegrityError(f"{manifest.archive}: expected a table header, found {line[:80]!r}")
        yield TableSpec.from_header(head), _read_jsonl_rows(fh, str(head["table"]), manifest)


def _read_jsonl_rows(fh: IO[str], table: str, manifest: BackupManifest) -> Iterator[list[Any]]:
    while line := fh.readline():
        item = _parse_line(line, manifest)
        if isinstance(item, list):
            yield item
        elif isinstance(item, dict) and item.get("end") == table:
            return
        else:
            raise BackupIntegrityError(f"{manifest.archive}: unexpected line in table {table}: {line[:80]!r}")
    raise BackupIntegrityError(f"{manifest.archive} ends in the middle of table {table} (truncated)")


def _load_tables(conn: Connection, tables: TableRows, manifest: BackupManifest) -> None:
    """Insert every table of the archive (they come parents first) and check each against the manifest."""
    dialect = conn.dialect.name
    target = {t.name: t for t in project_tables(conn)}
    seen: set[str] = set()
    for spec, rows in tables:
        seen.add(spec.name)
        digest = TableDigest(spec)
        if spec.name == ALEMBIC_TABLE:
            # The schema was already created at this revision; its bookkeeping row is there.
            for values in rows:
                digest.add(values)
        else:
            table = target.get(spec.name)
            if table is None:
                raise BackupError(
                    f"the target database has no table {spec.name!r} at revision {manifest.alembic_revision}"
                )
            missing = [n for n in spec.column_names if n not in table.c]
            if missing:
                raise BackupError(f"the target's table {spec.name!r} lacks the snapshot's columns {missing}")
            for batch in _batches(rows, BATCH):
                for values in batch:
                    digest.add(values)
                records = [
                    {
                        name: decode(kind, v, dialect=dialect)
                        for (name, kind), v in zip(spec.columns, values, strict=True)
                    }
                    for values in batch
                ]
                conn.execute(sa.insert(table), records)
        _check_table(manifest, spec.name, digest)
    absent = sorted(set(manifest.row_counts) - seen)
    if absent:
        raise BackupIntegrityError(f"{manifest.archive} lacks the tables {absent} that its manifest lists")


def _check_table(manifest: BackupManifest, table: str, digest: TableDigest) -> None:
    expected_rows = manifest.row_counts.get(table)
    expected_sum = manifest.checksums.get(table)
    if expected_rows != digest.rows or expected_sum != digest.hexdigest():
        raise BackupIntegrityError(
            f"table {table} in {manifest.archive} does not match its manifest "
            f"({digest.rows} rows, checksum {digest.hexdigest()[:12]}; manifest: {expected_rows} rows, "
            f"checksum {(expected_sum or '')[:12]})"
        )


def _reset_sequences(conn: Connection) -> None:
    """Point every serial/identity sequence past the restored ids, so new rows do not collide."""
    quote = conn.dialect.identifier_preparer.quote
    for table in project_tables(conn):
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            highest = conn.execute(sa.select(sa.func.max(table.c[column.name]))).scalar()
            if highest is None:
                conn.execute(sa.text("SELECT setval(:seq, 1, false)"), {"seq": sequence})
            else:
                conn.execute(sa.text("SELECT setval(:seq, :value, true)"), {"seq": sequence, "value": int(highest)})


def _parse_line(line: str, manifest: BackupManifest) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise BackupIntegrityError(f"{manifest.archive} has a line that is not JSON: {line[:80]!r}") from exc


def _batches(rows: Iterable[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
