"""Schema management: who migrates, and how everything else knows the schema is current.

Migrations (Alembic, `tasks/store/migrations/`) run in two places only: `jobberflow db upgrade`, and the
start of a long-lived process (the gateway, the runner, the event worker, the demo) through
`upgrade_database()`. Flow runs, Prefect tasks and the Jobber client factory run thousands of times a day:
they call `require_current_schema()` instead, which reads `alembic_version` once per engine and process
(one SELECT, remembered) and raises `SchemaNotCurrent`, naming `jobberflow db upgrade`, when the database
is not at this code's head revision. Nothing but those two places ever changes the schema.
"""

from __future__ import annotations

import threading
import weakref
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tasks.errors import SchemaNotCurrent
from tasks.store.db import normalize_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "jobberflow db upgrade"

# Engines whose database was found (or made) current in this process: they are not asked again.
_current: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
_lock = threading.Lock()


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # Alembic is imported when needed: flows import this module

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def _resolve(url: str | None) -> str:
    if url is not None:
        return url
    from tasks.settings import get_settings

    return get_settings().resolved_database_url


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the project's tables in the database at `url` (default: DATABASE_URL).

    Only `jobberflow db upgrade` and process start call this; runs call `require_current_schema()`.
    """
    from alembic import command

    url = _resolve(url)
    command.upgrade(alembic_config(url), revision)
    if revision != "head":
        with _lock:
            _current.clear()  # a database moved below head is not current any more: ask again


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The revision this code's models match (read from the migration scripts once per process)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic revisions in {MIGRATIONS}")
    return head


def stored_revision(engine: sa.Engine) -> str | None:
    """The database's `alembic_version`, or None when it has none (never migrated)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def require_current_schema(url: str | None = None, *, engine: sa.Engine | None = None) -> None:
    """Raise `SchemaNotCurrent` (naming `jobberflow db upgrade`) unless the database is at this code's head.

    Cheap: the answer is remembered per engine for the life of the process, so a flow run or a Jobber
    client costs one SELECT the first time and nothing after; it never runs a migration.
    """
    if engine is None:
        from tasks.store.db import get_engine

        engine = get_engine(_resolve(url))
    with _lock:
        if engine in _current:
            return
    found = stored_revision(engine)
    head = head_revision()
    if found != head:
        where = engine.url.render_as_string(hide_password=True)
        if found is None:
            problem = f"the database at {where} has no jobberflow schema yet"
        else:
            problem = f"the database at {where} is at schema revision {found}, this jobberflow needs {head}"
        raise SchemaNotCurrent(
            f"{problem}: run `{UPGRADE_COMMAND}` (with the same DATABASE_URL), or start the gateway, runner or "
            "event worker, which migrate when they start.",
            revision=found,
            head=head,
        )
    with _lock:
        _current.add(engine)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from tasks.store.db import build_engine

    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
