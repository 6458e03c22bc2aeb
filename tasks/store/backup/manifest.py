"""The snapshot's manifest (what a snapshot holds), its file-format constants, and the careful file writes.

A manifest is written last and atomically (`write_atomic`), owner-only (`private_file`): a snapshot without one
is incomplete and is ignored. Dates are UTC ISO-8601 with microseconds (`iso`), naive ones being UTC.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tasks.errors import BackupError

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
READ_CHUNK = 1 << 20

ArchiveFormat = Literal["sqlite-gzip", "jsonl-gzip"]


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
            "created_at": iso(self.created_at),
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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def render_backup_markdown(manifest: BackupManifest, deleted: Sequence[Path] = ()) -> str:
    """A Markdown summary of a snapshot (for the Prefect artifact)."""
    lines = [
        f"# Backup {manifest.archive}",
        "",
        f"- created: {iso(manifest.created_at)}",
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


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds; naive datetimes (SQLite's) are UTC by the project's convention."""
    return as_utc(moment).isoformat(timespec="microseconds")


def write_atomic(path: Path, text: str) -> None:
    partial = private_file(path.with_name(path.name + ".partial"))
    with partial.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    partial.replace(path)


def private_file(path: Path) -> Path:
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
