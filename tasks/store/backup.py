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

Errors (all `JobberflowError`s)::

    BackupError                  a backup could not be made, read or restored
    ├── BackupIntegrityError     the archive does not match its manifest (altered, truncated or damaged)
    └── RestoreTargetNotEmpty    the restore target already holds rows (names the table)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tasks.errors import BackupError, BackupIntegrityError, RestoreTargetNotEmpty
from tasks.store.db import build_engine, normalize_url
from tasks.store.migrate import alembic_config, current_revision, upgrade_database
from tasks.store.models import Base
from tasks.store.restores import mark_restored

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = "jobberflow-backup"
MANIFEST_VERSION = 1
LOGICAL_FORMAT = "jobberflow-logical"
LOGICAL_VERSION = 1
CHECKSUM_ALGORITHM = (
    "jobberflow-rows/1: SHA-256 over one canonical JSON line per row (sorted keys, UTC ISO datetimes), "
    "rows in primary-key order"
)
ALEMBIC_TABLE = "alembic_version"
ARCHIVE_PREFIX = "jobberflow-"
MANIFEST_SUFFIX = ".manifest.json"
SQLITE_ARCHIVE = ".sqlite.gz"
LOGICAL_ARCHIVE = ".jsonl.gz"
_BATCH = 1000
_READ_CHUNK = 1 << 20

ColumnKind = Literal["str", "int", "float", "decimal", "bool", "datetime", "date", "json", "bytes"]
ArchiveFormat = Literal["sqlite-gzip", "jsonl-gzip"]


# -- manifest and report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupManifest:
    """What a snapshot holds; stored as `<archive stem>.manifest.json` beside the archive."""

    path: Path
    created_at: datetime
    database: str
    source: str
    alembic_revision: str | None
    archive: str
    archive_format: ArchiveFormat
    archive_bytes: int
    archive_sha256: str
    row_counts: dict[str, int]
    checksums: dict[str, str]

    @property
    def archive_path(self) -> Path:
        return self.path.parent / self.archive

    @property
    def total_rows(self) -> int:
        """Rows of synced data (the Alembic bookkeeping row is not counted)."""
        return sum(n for table, n in self.row_counts.items() if table != ALEMBIC_TABLE)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "created_at": _iso(self.created_at),
            "database": self.database,
            "source": self.source,
            "alembic_revision": self.alembic_revision,
            "archive": {
                "file": self.archive,
                "format": self.archive_format,
                "bytes": self.archive_bytes,
                "sha256": self.archive_sha256,
            },
            "checksum_algorithm": CHECKSUM_ALGORITHM,
            "total_rows": self.total_rows,
            "tables": {
                table: {"rows": self.row_counts[table], "checksum": self.checksums[table]} for table in self.row_counts
            },
        }

    @classmethod
    def read(cls, path: Path) -> BackupManifest:
        """Load a manifest file, or raise a `BackupError` that says what is wrong with it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BackupError(f"no backup manifest at {path}") from exc
        except (OSError, ValueError) as exc:
            raise BackupError(f"{path} is not a readable backup manifest: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise BackupError(f"{path} is not a jobberflow backup manifest")
        if data.get("format_version") != MANIFEST_VERSION:
            raise BackupError(
                f"{path} has manifest version {data.get('format_version')!r}; this jobberflow reads {MANIFEST_VERSION}"
            )
        try:
            archive = data["archive"]
            tables = data["tables"]
            return cls(
                path=path,
                created_at=datetime.fromisoformat(data["created_at"]),
                database=str(data["database"]),
                source=str(data.get("source", "")),
                alembic_revision=data.get("alembic_revision"),
                # Only a file name: a manifest never points outside its own folder.
                archive=Path(str(archive["file"])).name,
                archive_format=archive["format"],
                archive_bytes=int(archive["bytes"]),
                archive_sha256=str(archive["sha256"]),
                row_counts={str(t): int(v["rows"]) for t, v in tables.items()},
                checksums={str(t): str(v["checksum"]) for t, v in tables.items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"{path} is missing or has a malformed field: {exc}") from exc


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


# -- public functions -----------------------------------------------------------------------------------------------


def create_backup(*, database_url: str, backup_dir: Path, now: datetime | None = None) -> BackupManifest:
    """Snapshot the database at `database_url` into `backup_dir` and write its manifest.

    SQLite: one step of the online backup API (a consistent copy while the app keeps writing), then gzip.
    PostgreSQL: every project table read in one REPEATABLE READ, READ ONLY transaction, as gzipped JSON Lines.
    """
    created_at = _as_utc(now or datetime.now(UTC))
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
    _write_atomic(manifest.path, json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n")
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
    current = _as_utc(now or datetime.now(UTC))
    snapshots = list_backups(backup_dir)
    keep: set[Path] = {m.path for m in snapshots[: max(keep_last, 1)]}
    first_day = current.date() - timedelta(days=keep_daily - 1)
    seen_days: set[date] = set()
    for manifest in snapshots:  # newest first: the first one seen for a day is that day's newest
        created = _as_utc(manifest.created_at)
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
        with _consistent_read(engine) as conn:
            restored = _summarize(_read_tables(conn))
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


def table_checksums(engine: Engine) -> dict[str, str]:
    """The content checksum of every project table (and alembic_version), read in one consistent transaction."""
    with _consistent_read(engine) as conn:
        return _summarize(_read_tables(conn)).checksums


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per project table (and alembic_version), counted in one consistent transaction."""
    with _consistent_read(engine) as conn:
        return {
            table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in _project_tables(conn)
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def render_backup_markdown(manifest: BackupManifest, deleted: Sequence[Path] = ()) -> str:
    """A Markdown summary of a snapshot (for the Prefect artifact)."""
    lines = [
        f"# Backup {manifest.archive}",
        "",
        f"- created: {_iso(manifest.created_at)}",
        f"- database: {manifest.database} (`{manifest.source}`), schema revision `{manifest.alembic_revision}`",
        f"- archive: `{manifest.archive_path}` ({_human_size(manifest.archive_bytes)}, {manifest.archive_format})",
        f"- SHA-256: `{manifest.archive_sha256}`",
        f"- rows: {manifest.total_rows}",
        "",
        "| table | rows | checksum (SHA-256) |",
        "|---|---:|---|",
    ]
    lines += [f"| {t} | {n} | `{manifest.checksums[t][:16]}…` |" for t, n in manifest.row_counts.items()]
    lines += ["", "## Old snapshots deleted by retention", ""]
    names = sorted({p.name for p in deleted})
    lines += [f"- `{name}`" for name in names] if names else ["none"]
    return "\n".join(lines) + "\n"


# -- reading tables as canonical rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TableSpec:
    name: str
    columns: tuple[tuple[str, ColumnKind], ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def header(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "columns": [{"name": n, "kind": k} for n, k in self.columns],
            "primary_key": list(self.primary_key),
        }

    @classmethod
    def from_header(cls, data: dict[str, Any]) -> _TableSpec:
        return cls(
            name=str(data["table"]),
            columns=tuple((str(c["name"]), c["kind"]) for c in data["columns"]),
            primary_key=tuple(str(c) for c in data["primary_key"]),
        )


TableRows = Iterator[tuple[_TableSpec, Iterator[list[Any]]]]


@dataclass
class _Summary:
    row_counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    revision: str | None = None


class _TableDigest:
    """Counts and hashes one table's canonical rows, in the order they come."""

    def __init__(self, spec: _TableSpec) -> None:
        self._names = spec.column_names
        self._hash = hashlib.sha256()
        self.rows = 0

    def add(self, values: Sequence[Any]) -> None:
        line = json.dumps(dict(zip(self._names, values, strict=True)), sort_keys=True, ensure_ascii=False)
        self._hash.update(line.encode("utf-8") + b"\n")
        self.rows += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _column_kind(type_: sa.types.TypeEngine[Any]) -> ColumnKind:
    # Order matters: Boolean and DateTime are checked before the broader numeric types.
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.Boolean):
        return "bool"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Integer):
        return "int"
    if isinstance(type_, sa.Float):
        return "float"
    if isinstance(type_, sa.Numeric):
        return "decimal"
    if isinstance(type_, sa.LargeBinary):
        return "bytes"
    return "str"


def _encode(kind: ColumnKind, value: Any) -> Any:
    """A database value as its canonical JSON value (the same on SQLite and PostgreSQL)."""
    if value is None:
        return None
    if kind == "datetime":
        return _iso(value)
    if kind == "date":
        return str(value.isoformat())
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "decimal":
        return str(value)
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "json":
        return value
    return str(value)


def _decode(kind: ColumnKind, value: Any, *, dialect: str) -> Any:
    """A canonical JSON value as the Python value to insert into `dialect`."""
    if value is None:
        return None
    if kind == "datetime":
        moment = datetime.fromisoformat(value).astimezone(UTC)
        # SQLite keeps datetimes as naive text; the project's convention is that naive means UTC.
        return moment.replace(tzinfo=None) if dialect == "sqlite" else moment
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "float":
        return float(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


def _project_tables(conn: Connection) -> list[sa.Table]:
    """The project's tables present in the database, reflected, alembic_version first, then parents before children."""
    wanted = {*Base.metadata.tables, ALEMBIC_TABLE}
    present = [name for name in sa.inspect(conn).get_table_names() if name in wanted]
    meta = sa.MetaData()
    meta.reflect(bind=conn, only=present)
    tables = meta.sorted_tables
    return [t for t in tables if t.name == ALEMBIC_TABLE] + [t for t in tables if t.name != ALEMBIC_TABLE]


def _spec(table: sa.Table) -> _TableSpec:
    return _TableSpec(
        name=table.name,
        columns=tuple((c.name, _column_kind(c.type)) for c in table.columns),
        primary_key=tuple(c.name for c in table.primary_key.columns),
    )


def _read_tables(conn: Connection) -> TableRows:
    """Every project table as (spec, canonical rows in primary-key order)."""
    for table in _project_tables(conn):
        spec = _spec(table)
        yield spec, _read_rows(conn, table, spec)


def _read_rows(conn: Connection, table: sa.Table, spec: _TableSpec) -> Iterator[list[Any]]:
    kinds = dict(spec.columns)
    keys = spec.primary_key or tuple(n for n, k in spec.columns if k != "json")
    order: list[sa.ColumnElement[Any]] = []
    for name in keys:
        column: sa.ColumnElement[Any] = table.c[name]
        if conn.dialect.name == "postgresql" and kinds[name] == "str":
            # Byte order, like SQLite's BINARY collation, so both databases list rows (and hash them) alike.
            column = column.collate("C")
        order.append(column)
    statement = sa.select(*(table.c[n] for n in spec.column_names)).order_by(*order)
    result = conn.execute(statement.execution_options(yield_per=_BATCH))
    for row in result:
        yield [_encode(kind, value) for (_, kind), value in zip(spec.columns, row, strict=True)]


def _summarize(tables: TableRows, *, sink: IO[str] | None = None) -> _Summary:
    """Count and hash every table; with `sink`, also write the rows there as the logical archive's lines."""
    summary = _Summary()
    for spec, rows in tables:
        digest = _TableDigest(spec)
        if sink is not None:
            sink.write(_json_line(spec.header()))
        for values in rows:
            digest.add(values)
            if sink is not None:
                sink.write(_json_line(values))
            if spec.name == ALEMBIC_TABLE and summary.revision is None:
                summary.revision = str(values[spec.column_names.index("version_num")])
        if sink is not None:
            sink.write(_json_line({"end": spec.name, "rows": digest.rows, "checksum": digest.hexdigest()}))
        summary.row_counts[spec.name] = digest.rows
        summary.checksums[spec.name] = digest.hexdigest()
    return summary


@contextmanager
def _consistent_read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot of the whole database."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn
        else:
            with conn.begin():
                # pysqlite only opens a transaction before writes; BEGIN makes the SELECTs share one read snapshot.
                conn.exec_driver_sql("BEGIN")
                yield conn


# -- making snapshots -----------------------------------------------------------------------------------------------


def _snapshot_sqlite(url: str, archive: Path) -> _Summary:
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
                summary = _summarize(_read_tables(conn))
        finally:
            engine.dispose()
        partial = _private_file(archive.with_name(archive.name + ".partial"))
        with copy.open("rb") as raw, partial.open("wb") as out:
            with gzip.GzipFile(filename=archive.name[: -len(".gz")], mode="wb", fileobj=out, mtime=0) as packed:
                shutil.copyfileobj(raw, packed, _READ_CHUNK)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(archive)
    return summary


def _export_logical(url: str, archive: Path, created_at: datetime) -> _Summary:
    partial = _private_file(archive.with_name(archive.name + ".partial"))
    engine = build_engine(url)
    try:
        with _consistent_read(engine) as conn, partial.open("wb") as out:
            packed = gzip.GzipFile(filename=archive.name[: -len(".gz")], mode="wb", fileobj=out, mtime=0)
            # Closing the text layer closes the gzip stream (writing its trailer); `out` stays open for fsync.
            with io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as sink:
                header = {
                    "format": LOGICAL_FORMAT,
                    "version": LOGICAL_VERSION,
                    "database": conn.dialect.name,
                    "created_at": _iso(created_at),
                }
                sink.write(_json_line(header))
                summary = _summarize(_read_tables(conn), sink=sink)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    partial.replace(archive)
    return summary


# -- restoring ------------------------------------------------------------------------------------------------------


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
        for table in _project_tables(conn):
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
                shutil.copyfileobj(packed, out, _READ_CHUNK)
            engine = sa.create_engine(f"sqlite:///{copy}")
            try:
                with engine.connect() as conn:
                    yield _read_tables(conn)
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
        yield _TableSpec.from_header(head), _read_jsonl_rows(fh, str(head["table"]), manifest)


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
    target = {t.name: t for t in _project_tables(conn)}
    seen: set[str] = set()
    for spec, rows in tables:
        seen.add(spec.name)
        digest = _TableDigest(spec)
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
            for batch in _batches(rows, _BATCH):
                for values in batch:
                    digest.add(values)
                records = [
                    {
                        name: _decode(kind, v, dialect=dialect)
                        for (name, kind), v in zip(spec.columns, values, strict=True)
                    }
                    for values in batch
                ]
                conn.execute(sa.insert(table), records)
        _check_table(manifest, spec.name, digest)
    absent = sorted(set(manifest.row_counts) - seen)
    if absent:
        raise BackupIntegrityError(f"{manifest.archive} lacks the tables {absent} that its manifest lists")


def _check_table(manifest: BackupManifest, table: str, digest: _TableDigest) -> None:
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
    for table in _project_tables(conn):
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


# -- small helpers --------------------------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds; naive datetimes (SQLite's) are UTC by the project's convention."""
    return _as_utc(moment).isoformat(timespec="microseconds")


def _free_stem(backup_dir: Path, created_at: datetime) -> str:
    base = f"{ARCHIVE_PREFIX}{created_at:%Y%m%dT%H%M%SZ}"
    stem, n = base, 1
    while any(
        (backup_dir / f"{stem}{suffix}").exists() for suffix in (MANIFEST_SUFFIX, SQLITE_ARCHIVE, LOGICAL_ARCHIVE)
    ):
        n += 1
        stem = f"{base}-{n}"
    return stem


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


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


def _write_atomic(path: Path, text: str) -> None:
    partial = _private_file(path.with_name(path.name + ".partial"))
    with partial.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    partial.replace(path)


def _private_file(path: Path) -> Path:
    """An empty file that only its owner can read or write."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    return path


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
