"""Backups: a snapshot restores to exactly the same rows, on SQLite and on PostgreSQL and across the two;
damaged archives, non-empty targets and old snapshots are handled the way the docs promise."""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tasks.store.backup import (
    BackupError,
    BackupIntegrityError,
    BackupManifest,
    RestoreTargetNotEmpty,
    apply_retention,
    create_backup,
    list_backups,
    restore_backup,
    row_counts,
    table_checksums,
    verify_backup,
)
from tasks.store.db import build_engine, dispose_engines, unit_of_work
from tasks.store.migrate import current_revision, upgrade_database
from tasks.store.models import (
    Account,
    Base,
    Client,
    ClientEmail,
    ClientPhone,
    Invoice,
    Job,
    JobberToken,
    Property,
    Quote,
    SyncWatermark,
    User,
    Visit,
    VisitAssignment,
    WebhookInbox,
)

NOW = datetime(2025, 3, 10, 18, 0, 0, 123456, tzinfo=UTC)
CENTRAL = timezone(timedelta(hours=-6))
NewDatabase = Callable[[str], str]

SEEDED = {
    "accounts": 2,
    "jobber_tokens": 2,
    "clients": 3,
    "client_emails": 3,
    "client_phones": 2,
    "properties": 2,
    "jobs": 3,
    "visits": 3,
    "visit_assignments": 3,
    "invoices": 2,
    "quotes": 2,
    "users": 2,
    "sync_watermarks": 3,
    "webhook_inbox": 3,
}


# -- builders and readers -------------------------------------------------------------------------------------------


def kind_of(url: str) -> str:
    return make_url(url).get_backend_name()


def seed(url: str) -> None:
    """A small account's worth of synced data: unicode, NULLs, nested JSON, floats and aware datetimes."""
    t0 = datetime(2025, 3, 1, 14, 30, 5, 250000, tzinfo=UTC)
    engine = build_engine(url)
    try:
        with unit_of_work(engine) as s:
            s.add_all(
                [
                    Account(
                        key="default",
                        jobber_account_id="QWNjb3VudDox",
                        name="Søren's Lawn & Snow ❄",
                        status="connected",
                        created_at=t0,
                        updated_at=t0 + timedelta(days=3),
                    ),
                    Account(
                        key="north",
                        jobber_account_id=None,
                        name=None,
                        status="reconnect_needed",
                        status_reason="refresh token rejected — a person must reconnect",
                        created_at=t0,
                        updated_at=t0,
                    ),
                ]
            )
            s.flush()
            s.add_all(
                [
                    JobberToken(
                        account_key="default",
                        access_token="eyJhbGciOiJIUzI1NiJ9.e30.sig",
                        refresh_token="r-42",
                        access_expires_at=datetime(2025, 3, 10, 19, 30, tzinfo=UTC),
                        generation=4,
                        updated_at=t0,
                    ),
                    JobberToken(account_key="north", generation=0, updated_at=t0),
                    Client(
                        id="Y2xpZW50OjE=",
                        name="Zoë Ångström",
                        first_name="Zoë",
                        last_name="Ångström",
                        is_company=False,
                        is_archived=False,
                        primary_email="zoe@example.com",
                        primary_phone="+1 555 0100",
                        sms_allowed=True,
                        tags=["vip", "ñandú", "🌿"],
                        raw={"id": "Y2xpZW50OjE=", "balance": 12.5, "emails": [{"a": 1}], "z": None, "b": True},
                        jobber_created_at=t0 - timedelta(days=400),
                        jobber_updated_at=t0,
                        fetched_at=t0,
                    ),
                    Client(
                        id="Y2xpZW50OjI=",
                        name="李小龙 Landscaping Ltd.",
                        company_name="李小龙 Landscaping Ltd.",
                        is_company=True,
                        tags=[],
                        raw={"nested": {"y": [1, 2.25, None], "x": '"quoted" \\ back'}},
                        jobber_updated_at=datetime(2025, 3, 2, 8, 0, tzinfo=CENTRAL),
                        fetched_at=t0,
                    ),
                    Client(id="Y2xpZW50OjM=", account_key="north", tags=[], raw={}, fetched_at=t0),
                ]
            )
            s.flush()
            s.add_all(
                [
                    ClientEmail(client_id="Y2xpZW50OjE=", position=0, address="zoe@example.com", is_primary=True),
                    ClientEmail(
                        client_id="Y2xpZW50OjE=", position=1, address="zoë@bücher.example", description="Arbeit"
                    ),
                    ClientEmail(client_id="Y2xpZW50OjI=", position=0, address="office@li.example", is_primary=True),
                    ClientPhone(client_id="Y2xpZW50OjE=", position=0, number="+1 555 0100", sms_allowed=True),
                    ClientPhone(client_id="Y2xpZW50OjI=", position=0, number="+86 10 5555 0101", is_primary=True),
                    Property(
                        id="cHJvcGVydHk6MQ==",
                        client_id="Y2xpZW50OjE=",
                        street="12 Rue de l'Été",
                        city="Montréal",
                        province="QC",
                        postal_code="H2X 1Y4",
                        country="Canada",
                        raw={"id": "cHJvcGVydHk6MQ=="},
                        fetched_at=t0,
                    ),
                    Property(id="cHJvcGVydHk6Mg==", client_id=None, raw={}, fetched_at=t0),
                    Job(
                        id="am9iOjE=",
                        job_number=101,
                        title="Spring cleanup",
                        job_status="active",
                        client_id="Y2xpZW50OjE=",
                        property_id="cHJvcGVydHk6MQ==",
                        total=1234.56,
                        raw={"lineItems": [{"name": "Mulch", "qty": 3, "unitPrice": 19.99}]},
                        fetched_at=t0,
                    ),
                    Job(
                        id="am9iOjI=",
                        job_number=102,
                        title="Snow removal ❄",
                        job_status="archived",
                        completed_at=datetime(2025, 1, 5, 6, 0, tzinfo=CENTRAL),
                        total=0.1 + 0.2,
                        raw={},
                        fetched_at=t0,
                    ),
                    Job(id="am9iOjM=", raw={}, fetched_at=t0),
                ]
            )
            s.flush()
            s.add_all(
                [
                    Visit(
                        id="dmlzaXQ6MQ==",
                        job_id="am9iOjE=",
                        client_id="Y2xpZW50OjE=",
                        title="Visit 1",
                        visit_status="upcoming",
                        is_complete=False,
                        start_at=datetime(2025, 3, 11, 9, 0, tzinfo=CENTRAL),
                        end_at=datetime(2025, 3, 11, 11, 0, tzinfo=CENTRAL),
                        raw={"assignedUsers": ["dXNlcjox", "dXNlcjoy"]},
                        fetched_at=t0,
                    ),
                    Visit(
                        id="dmlzaXQ6Mg==",
                        job_id="am9iOjI=",
                        is_complete=True,
                        completed_at=datetime(2025, 1, 5, 12, 0, tzinfo=UTC),
                        raw={},
                        fetched_at=t0,
                    ),
                    Visit(id="dmlzaXQ6Mw==", raw={}, fetched_at=t0),
                ]
            )
            s.flush()
            s.add_all(
                [
                    VisitAssignment(visit_id="dmlzaXQ6MQ==", user_id="dXNlcjox", user_name="Ana Núñez"),
                    VisitAssignment(visit_id="dmlzaXQ6MQ==", user_id="dXNlcjoy", user_name=None),
                    VisitAssignment(visit_id="dmlzaXQ6Mg==", user_id="dXNlcjox", user_name="Ana Núñez"),
                    Invoice(
                        id="aW52b2ljZTox",
                        invoice_number="1001",
                        invoice_status="awaiting_payment",
                        subject="Spring cleanup — invoice",
                        client_id="Y2xpZW50OjE=",
                        total=1234.56,
                        balance=234.56,
                        issued_date=datetime(2025, 3, 5, tzinfo=UTC),
                        due_date=datetime(2025, 4, 4, tzinfo=UTC),
                        job_ids=["am9iOjE="],
                        raw={"amounts": {"total": 1234.56, "tax": 0}},
                        fetched_at=t0,
                    ),
                    Invoice(id="aW52b2ljZToy", job_ids=[], raw={}, fetched_at=t0),
                    Quote(
                        id="cXVvdGU6MQ==",
                        quote_number="Q-7",
                        quote_status="awaiting_response",
                        title="Patio 🧱",
                        client_id="Y2xpZW50OjI=",
                        total=9999.0,
                        sent_at=datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
                        raw={},
                        fetched_at=t0,
                    ),
                    Quote(id="cXVvdGU6Mg==", raw={}, fetched_at=t0),
                    User(
                        id="dXNlcjox",
                        first_name="Ana",
                        last_name="Núñez",
                        full_name="Ana Núñez",
                        email="ana@example.com",
                        status="active",
                        timezone="America/Chicago",
                        raw={"isAccountOwner": True},
                        fetched_at=t0,
                    ),
                    User(id="dXNlcjoy", raw={}, fetched_at=t0),
                    SyncWatermark(account_key="default", resource="clients", watermark=t0, updated_at=t0),
                    SyncWatermark(
                        account_key="default",
                        resource="jobs",
                        watermark=None,
                        resume_cursor="Y3Vyc29yOjUw",
                        resume_since=t0 - timedelta(days=1),
                        resume_high_water=t0,
                        updated_at=t0,
                    ),
                    SyncWatermark(account_key="north", resource="users", last_success_at=t0, updated_at=t0),
                ]
            )
            for n, topic in enumerate(("CLIENT_CREATE", "JOB_UPDATE", "INVOICE_CREATE"), start=1):
                s.add(
                    WebhookInbox(
                        dedupe_key=hashlib.sha256(f"hook-{n}".encode()).hexdigest(),
                        account_id="QWNjb3VudDox",
                        topic=topic,
                        item_id=f"item-{n}",
                        occurred_at=f"2025-03-0{n}T10:00:00Z",
                        body=json.dumps({"data": {"webHookEvent": {"topic": topic, "itemId": f"item-{n}"}}}),
                        received_at=t0 + timedelta(minutes=n),
                        relayed_at=None if n == 3 else t0 + timedelta(minutes=n, seconds=2),
                        relay_attempts=n - 1,
                        last_error="timeout ⏱" if n == 2 else None,
                    )
                )
    finally:
        engine.dispose()


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLite hands back naive datetimes; the project stores UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every project table's rows as normalized dicts, in primary-key order (compared in Python, not by collation)."""
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            out: dict[str, list[dict[str, Any]]] = {}
            for table in Base.metadata.sorted_tables:
                rows = [{k: _normalize(v) for k, v in r.items()} for r in conn.execute(sa.select(table)).mappings()]
                keys = [c.name for c in table.primary_key.columns]
                out[table.name] = sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))
            return out
    finally:
        engine.dispose()


def non_empty(table_rows: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in table_rows.items() if n}


def counts(url: str) -> dict[str, int]:
    engine = build_engine(url)
    try:
        return row_counts(engine)
    finally:
        engine.dispose()


@pytest.fixture
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes new, empty (not even migrated) databases: a new file for SQLite, a new database on the server."""
    created: list[tuple[str, str]] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'new-{uuid.uuid4().hex[:8]}.db'}"
        server = request.getfixturevalue("postgres_server_url")
        name = f"jobberflow_restore_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        created.append((server, name))
        return server.rsplit("/", 1)[0] + "/" + name

    yield make
    dispose_engines()
    for server, name in created:
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# -- tests ----------------------------------------------------------------------------------------------------------


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


def test_a_snapshot_from_a_newer_jobberflow_is_refused(db_url: str, new_database: NewDatabase, tmp_path: Path) -> None:
    manifest = create_backup(database_url=db_url, backup_dir=tmp_path, now=NOW)
    data = json.loads(manifest.path.read_text(encoding="utf-8"))
    data["alembic_revision"] = "9999"
    manifest.path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(BackupError, match="revision '9999', which this version of jobberflow does not know"):
        restore_backup(manifest.path, database_url=new_database(kind_of(db_url)))


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
