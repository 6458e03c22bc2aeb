"""Tables as canonical rows: the one reading of the database that snapshots, checksums and restores share.

Each row becomes a list of canonical JSON values (`encode`: datetimes as UTC ISO-8601, decimals as strings, bytes
as base64), rows in primary-key order (byte order for text on both databases), so a table's checksum (SHA-256
of one sorted-keys JSON line per row) is the same on SQLite and PostgreSQL. `consistent_read` opens the one
read-only transaction every table is read in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from tasks.store.backup.manifest import ALEMBIC_TABLE, iso
from tasks.store.models import Base

BATCH = 1000

ColumnKind = Literal["str", "int", "float", "decimal", "bool", "datetime", "date", "json", "bytes"]


@dataclass(frozen=True)
class TableSpec:
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
    def from_header(cls, data: dict[str, Any]) -> TableSpec:
        return cls(
            name=str(data["table"]),
            columns=tuple((str(c["name"]), c["kind"]) for c in data["columns"]),
            primary_key=tuple(str(c) for c in data["primary_key"]),
        )


TableRows = Iterator[tuple[TableSpec, Iterator[list[Any]]]]


@dataclass
class Summary:
    row_counts: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    revision: str | None = None


class TableDigest:
    """Counts and hashes one table's canonical rows, in the order they come."""

    def __init__(self, spec: TableSpec) -> None:
        self._names = spec.column_names
        self._hash = hashlib.sha256()
        self.rows = 0

    def add(self, values: Sequence[Any]) -> None:
        line = json.dumps(dict(zip(self._names, values, strict=True)), sort_keys=True, ensure_ascii=False)
        self._hash.update(line.encode("utf-8") + b"\n")
        self.rows += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def table_checksums(engine: Engine) -> dict[str, str]:
    """The content checksum of every project table (and alembic_version), read in one consistent transaction."""
    with consistent_read(engine) as conn:
        return summarize(read_tables(conn)).checksums


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per project table (and alembic_version), counted in one consistent transaction."""
    with consistent_read(engine) as conn:
        return {
            table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in project_tables(conn)
        }


# Order matters: Boolean and DateTime are checked before the broader numeric types.
_KINDS: tuple[tuple[type[sa.types.TypeEngine[Any]], ColumnKind], ...] = (
    (sa.JSON, "json"),
    (sa.Boolean, "bool"),
    (sa.DateTime, "datetime"),
    (sa.Date, "date"),
    (sa.Integer, "int"),
    (sa.Float, "float"),
    (sa.Numeric, "decimal"),
    (sa.LargeBinary, "bytes"),
)


def _column_kind(type_: sa.types.TypeEngine[Any]) -> ColumnKind:
    return next((kind for base, kind in _KINDS if isinstance(type_, base)), "str")


def _encode(kind: ColumnKind, value: Any) -> Any:
    """A database value as its canonical JSON value (the same on SQLite and PostgreSQL)."""
    if value is None:
        return None
    if kind == "datetime":
        return iso(value)
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


def decode(kind: ColumnKind, value: Any, *, dialect: str) -> Any:
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


def project_tables(conn: Connection) -> list[sa.Table]:
    """The project's tables present in the database, reflected, alembic_version first, then parents before children."""
    wanted = {*Base.metadata.tables, ALEMBIC_TABLE}
    present = [name for name in sa.inspect(conn).get_table_names() if name in wanted]
    meta = sa.MetaData()
    meta.reflect(bind=conn, only=present)
    tables = meta.sorted_tables
    return [t for t in tables if t.name == ALEMBIC_TABLE] + [t for t in tables if t.name != ALEMBIC_TABLE]


def _spec(table: sa.Table) -> TableSpec:
    return TableSpec(
        name=table.name,
        columns=tuple((c.name, _column_kind(c.type)) for c in table.columns),
        primary_key=tuple(c.name for c in table.primary_key.columns),
    )


def read_tables(conn: Connection) -> TableRows:
    """Every project table as (spec, canonical rows in primary-key order)."""
    for table in project_tables(conn):
        spec = _spec(table)
        yield spec, _read_rows(conn, table, spec)


def _read_rows(conn: Connection, table: sa.Table, spec: TableSpec) -> Iterator[list[Any]]:
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
    result = conn.execute(statement.execution_options(yield_per=BATCH))
    for row in result:
        yield [_encode(kind, value) for (_, kind), value in zip(spec.columns, row, strict=True)]


def summarize(tables: TableRows, *, sink: IO[str] | None = None) -> Summary:
    """Count and hash every table; with `sink`, also write the rows there as the logical archive's lines."""
    summary = Summary()
    for spec, rows in tables:
        digest = TableDigest(spec)
        if sink is not None:
            sink.write(json_line(spec.header()))
        for values in rows:
            digest.add(values)
            if sink is not None:
                sink.write(json_line(values))
            if spec.name == ALEMBIC_TABLE and summary.revision is None:
                summary.revision = str(values[spec.column_names.index("version_num")])
        if sink is not None:
            sink.write(json_line({"end": spec.name, "rows": digest.rows, "checksum": digest.hexdigest()}))
        summary.row_counts[spec.name] = digest.rows
        summary.checksums[spec.name] = digest.hexdigest()
    return summary


@contextmanager
def consistent_read(engine: Engine) -> Iterator[Connection]:
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


def json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
