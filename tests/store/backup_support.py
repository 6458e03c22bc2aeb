"""What the backup tests share: a seeded database (unicode, NULLs, nested JSON, floats, aware datetimes) and the
readers that compare one database with another; the `new_database` fixture is in conftest.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tasks.store.backup import row_counts
from tasks.store.db import build_engine, unit_of_work
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
