"""Engines and sessions: one cached engine per database URL, built on first use.

SQLite (the default) runs in WAL mode with synchronous=FULL and a busy timeout, so a write that was
acknowledged survives a crash and concurrent writers wait instead of failing. PostgreSQL is used as is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (the driver this project installs)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def build_engine(url: str) -> Engine:
    """A new engine for `url` (SQLite files get their folder created and the pragmas above)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for `url` (default: the settings' DATABASE_URL), created once."""
    if url is None:
        from tasks.settings import get_settings

        url = get_settings().resolved_database_url
    url = normalize_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = build_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and after a fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """One sessionmaker per engine, kept on the engine itself (building one per unit of work showed up in
    dispatch profiles; a module-level cache would keep disposed engines alive)."""
    factory: sessionmaker[Session] | None = getattr(engine, "_jobberflow_sessionmaker", None)
    if factory is None:
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        engine._jobberflow_sessionmaker = factory  # type: ignore[attr-defined]
    return factory


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One session, one transaction: committed when the block ends, rolled back on an exception."""
    with session_factory(engine).begin() as session:
        yield session
