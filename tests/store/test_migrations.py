"""Upgrading a database that holds data: the newest migrations keep every row and add their columns."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from tasks.store.db import build_engine
from tasks.store.migrate import alembic_config, current_revision, upgrade_database


def _at_revision(db_url: str, revision: str) -> sa.Engine:
    """The fixture's migrated database taken back to `revision`, and an engine for it."""
    command.downgrade(alembic_config(db_url), revision)
    assert current_revision(db_url) == revision
    return build_engine(db_url)


def test_0010_adds_the_refresh_lease_and_keeps_the_tokens(db_url: str) -> None:
    engine = _at_revision(db_url, "0009")
    try:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (key, status, created_at, updated_at) VALUES ('default', 'connected', :t, :t)"
                ),
                {"t": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO jobber_tokens (account_key, access_token, refresh_token, generation, updated_at) "
                    "VALUES ('default', 'at', 'rt', 3, :t)"
                ),
                {"t": now},
            )
        upgrade_database(db_url)
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT refresh_token, generation, refresh_lease, refresh_lease_until FROM jobber_tokens")
            ).one()
        assert tuple(row) == ("rt", 3, None, None)
    finally:
        engine.dispose()


def test_0011_adds_relay_rejected_at_and_keeps_unrelayed_rows_in_the_relays_queue(db_url: str) -> None:
    from tasks.store import inbox

    engine = _at_revision(db_url, "0010")
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO webhook_inbox (dedupe_key, account_id, topic, item_id, occurred_at, body, "
                    "received_at, relay_attempts, last_error) VALUES ('k1', 'acc', 'JOB_CLOSED', 'job-1', "
                    "'2025-01-24T15:30:00-06:00', '{}', :t, 4, 'Prefect answered HTTP 422')"
                ),
                {"t": datetime.now(UTC)},
            )
        upgrade_database(db_url)
        with engine.connect() as conn:
            (entry,) = inbox.fetch_unrelayed(conn)
            rejected = conn.execute(sa.text("SELECT relay_rejected_at FROM webhook_inbox")).scalar_one()
        assert (entry.item_id, entry.relay_attempts, rejected) == ("job-1", 4, None)
        assert inbox.relay_rejections(engine) == 0
    finally:
        engine.dispose()
