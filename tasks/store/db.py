"""Engines and sessions: one cached engine per database URL, built on first use.

SQLite (the default) runs in WAL mode with synchronous=FULL and a busy timeout, so a write that was
acknowledged survives a crash and concurrent writers wait instead of failing. PostgreSQL is used as is.

The database holds OAuth refresh tokens and customers' phone numbers and emails, so:
- every engine hides bound parameters from its error messages (`hide_parameters=True`): an error that
  reaches a log or a traceback names the statement, never the token or phone number it carried;
- a SQLite file is owner-only: created 0600 (SQLite gives its -wal and -shm files the same mode), an
  existing one readable by others is tightened to 0600, and a folder created for it is 0700.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

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


OWNER_ONLY_FILE = 0o600
OWNER_ONLY_DIR = 0o700


def _make_folder(folder: Path) -> None:
    """Create `folder` (and missing parents); the folders created here are owner-only."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    folder.mkdir(mode=OWNER_ONLY_DIR, parents=True, exist_ok=True)
    for created in missing:
        try:
            created.chmod(OWNER_ONLY_DIR)  # mkdir's mode is reduced by the umask, and parents get the default
        except OSError:
            log.warning("Could not make the folder %s owner-only", created)


def secure_sqlite_file(path: Path) -> None:
    """Create the SQLite file owner-only (0600) before SQLite does, or tighten an existing one.

    SQLite creates its -wal and -shm files with the database file's mode, so they follow.
    """
    _make_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # an empty file is an empty SQLite database
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
            if mode & 0o077:
                candidate.chmod(mode & 0o700)
                log.info("Made %s owner-only (it was %o)", candidate, mode)
        except FileNotFoundError:
            continue
        except OSError:
            log.warning("Could not make %s owner-only: other users of this machine may read it", candidate)


def build_engine(url: str) -> Engine:
    """A new engine for `url` (SQLite files get an owner-only file and folder, and the pragmas above)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            secure_sqlite_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)


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
