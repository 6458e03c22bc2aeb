"""The webhook inbox's group-commit writer: how a received webhook is stored before the gateway answers.

Writes go through `InboxWriter`, a group commit: one writer thread takes every row that concurrent
requests have queued, inserts them in ONE transaction (`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING`
on SQLite and PostgreSQL) and only then resolves each request's future. A request that is told
"stored" or "duplicate" is therefore backed by a committed transaction (SQLite runs WAL with
synchronous=FULL, see tasks/store/db.py): an acknowledged webhook survives a crash.

A request never waits long: Jobber wants an answer within 1 second, so each request waits at most the
writer's `deadline_s` (GATEWAY_STORE_DEADLINE_S) for its batch and is otherwise told InboxUnavailable
(the gateway answers 503 and Jobber delivers it again). The writer's own connection waits at most that
long for a locked database (SQLite's busy timeout, PostgreSQL's lock_timeout), once per batch: when the
database as a whole cannot take the write (locked, busy, unreachable: an OperationalError) the whole
batch is answered "unavailable" at once; only an error that may be a row's fault (a constraint, a value
too long) makes the writer store that batch's rows one by one, so one bad row cannot fail the others.
A row whose request stopped waiting is still written: if it commits after its 503, Jobber's retry is
acknowledged as a duplicate of it, so nothing is stored twice and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, literal_column
from sqlalchemy.exc import OperationalError

from tasks.errors import InboxUnavailable
from tasks.store.inbox import _TABLE, ROW_COLUMNS, InboxRow, store_rows

log = logging.getLogger(__name__)


def _dialect_insert(name: str) -> Any:
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert

    return postgresql_insert


class _RawInserter:
    """The writer's own DBAPI connection and one prepared INSERT: SQLAlchemy's per-transaction machinery
    costs more CPU than the insert itself, and the writer runs one transaction per batch.

    Values are bound through the column types' own bind processors, so rows read back through
    SQLAlchemy exactly as if it had written them. Only SQLite (pysqlite) and PostgreSQL (psycopg).
    The connection is detached from the engine's pool and waits at most `busy_s` for a lock (SQLite's
    busy timeout, PostgreSQL's lock_timeout), where the pool's connections wait 30 s.
    """

    def __init__(self, engine: Engine, *, busy_s: float) -> None:
        self.dialect = engine.dialect
        self.name = engine.dialect.name
        values: dict[str, Any] = {name: bindparam(name) for name in ROW_COLUMNS}
        # every column with a Python-side default must be bound here, or SQLAlchemy adds a parameter for it
        values["relay_attempts"] = literal_column("0")
        values["work_attempts"] = literal_column("0")
        compiled = (
            _dialect_insert(self.name)(_TABLE)
            .values(values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(_TABLE.c.dedupe_key)
            .compile(dialect=engine.dialect)
        )
        self.sql = str(compiled)
        # qmark (pysqlite) binds by position, pyformat (psycopg) by name
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positiontup else None
        processor = _TABLE.c.received_at.type.bind_processor(engine.dialect)
        self._when: Callable[[datetime], Any] = processor or (lambda value: value)
        connection: Any = engine.raw_connection()
        connection.detach()  # its lock timeout is the writer's own: never hand it back to the pool
        try:
            cursor = connection.cursor()
            millis = max(1, int(busy_s * 1000))
            if self.name == "sqlite":
                cursor.execute(f"PRAGMA busy_timeout = {millis}")
            else:
                cursor.execute(f"SET lock_timeout = {millis}")
                connection.commit()
            cursor.close()
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    @staticmethod
    def supports(engine: Engine) -> bool:
        return engine.dialect.name == "sqlite" or (
            engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        )

    def _params(self, row: InboxRow) -> tuple[Any, ...] | dict[str, Any]:
        when = row.received_at.astimezone(UTC)
        if self.name == "sqlite":
            when = when.replace(tzinfo=None)  # SQLite stores UTC without an offset, as SQLAlchemy does
        values = row.columns()
        values["received_at"] = self._when(when)
        if self.order is not None:
            return tuple(values[name] for name in self.order)
        return values

    def insert(self, rows: Sequence[InboxRow]) -> set[str]:
        """Insert and COMMIT; the keys newly stored. Raises the driver's error (the transaction is rolled back)."""
        connection = self._connection
        cursor = connection.cursor()
        try:
            stored: set[str] = set()
            if self.name == "sqlite":
                for row in rows:
                    cursor.execute(self.sql, self._params(row))
                    found = cursor.fetchone()
                    if found is not None:
                        stored.add(str(found[0]))
            else:
                cursor.executemany(self.sql, [self._params(row) for row in rows], returning=True)
                while True:
                    found = cursor.fetchone()
                    if found is not None:
                        stored.add(str(found[0]))
                    if not cursor.nextset():
                        break
            connection.commit()
            cursor.close()
            return stored
        except BaseException:
            # keep the driver's own error (closing the cursor of a closed connection would replace it)
            with contextlib.suppress(Exception):
                cursor.close()
            with contextlib.suppress(Exception):
                connection.rollback()
            self.close()
            raise

    def close(self) -> None:
        try:
            self._connection.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken connection
            pass


_Waiter = tuple[InboxRow, "asyncio.Future[bool] | Future[bool]", "asyncio.AbstractEventLoop | None"]

DEFAULT_DEADLINE_S = 0.5


@dataclass
class WriterStats:
    batches: int = 0
    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    failures: int = 0
    largest_batch: int = 0
    last_commit_s: float = 0.0
    transactions: int = 0  # write transactions attempted (a batch is one, unless a row's error splits it)
    unavailable: int = 0  # batches the database could not take at all (locked, busy, unreachable)
    deadline_missed: int = 0  # requests told InboxUnavailable because their batch took longer than the deadline


class InboxWriter:
    """One thread that stores queued rows in batches (group commit) and resolves their futures after COMMIT.

    `await writer.store(row)` -> True (stored now) or False (a duplicate of a stored row); it raises
    InboxUnavailable when the batch could not be committed, or not within `deadline_s`, so the request
    can answer 503 and Jobber retries. The thread starts on first use; `close()` stores what is queued
    and stops it.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 256,
        on_batch: Callable[[int, float], None] | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.deadline_s = deadline_s
        self.stats = WriterStats()
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._raw: _RawInserter | None = None

    # -- producer side ------------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._closed:
                raise InboxUnavailable("the inbox writer is stopped")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    async def store(self, row: InboxRow) -> bool:
        """Queue `row` and wait until its batch is committed: True if stored now, False if a duplicate."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put((row, future, loop))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.deadline_s)
        except TimeoutError:
            future.cancel()  # the writer skips answering it (the row is still written)
            raise self._missed() from None

    def store_sync(self, row: InboxRow) -> bool:
        """The same from a thread without an event loop."""
        self._ensure_started()
        future: Future[bool] = Future()
        self._queue.put((row, future, None))
        try:
            return future.result(self.deadline_s)
        except TimeoutError:
            if future.cancel():
                raise self._missed() from None
            return future.result()  # answered just now

    def _missed(self) -> InboxUnavailable:
        self.stats.deadline_missed += 1
        return InboxUnavailable(f"the inbox write took longer than {self.deadline_s:g} s")

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> None:
        """Store everything already queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    # -- writer side --------------------------------------------------------------------------------
    def _take(self) -> tuple[list[_Waiter], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        stop = False
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                self._commit(batch)
            if stop:
                # drain whatever arrived after the stop marker so no caller waits forever
                rest: list[_Waiter] = []
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        rest.append(item)
                if rest:
                    self._commit(rest)
                if self._raw is not None:
                    self._raw.close()
                    self._raw = None
                return

    def _store(self, rows: list[InboxRow]) -> set[str]:
        """One transaction for `rows` (duplicates within them removed); the keys newly stored."""
        unique: dict[str, InboxRow] = {}
        for row in rows:
            unique.setdefault(row.dedupe_key, row)
        self.stats.transactions += 1
        if not _RawInserter.supports(self.engine):
            return store_rows(self.engine, list(unique.values()))
        if self._raw is None:
            self._raw = _RawInserter(self.engine, busy_s=self.deadline_s)
        try:
            return self._raw.insert(list(unique.values()))
        except BaseException:
            self._raw = None  # insert() closed it; the next transaction opens a new one
            raise

    def _unavailable(self, exc: BaseException) -> bool:
        """True when the database as a whole could not take the write (locked, busy, unreachable): an
        OperationalError, raw from the driver or wrapped by SQLAlchemy. No row is at fault then."""
        if isinstance(exc, OperationalError):
            return True
        dbapi = getattr(self.engine.dialect, "loaded_dbapi", None)
        operational = getattr(dbapi, "OperationalError", None)
        return isinstance(operational, type) and isinstance(exc, operational)

    def _commit(self, batch: list[_Waiter]) -> None:
        started = time.perf_counter()
        outcome: set[str] | BaseException
        try:
            outcome = self._store([row for row, _, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiter must be answered
            if self._unavailable(exc):
                self.stats.unavailable += 1
                log.error("inbox batch of %d not stored: database unavailable (%s)", len(batch), _describe(exc))
                outcome = InboxUnavailable(f"database unavailable: {type(exc).__name__}")
            else:
                outcome = self._commit_one_by_one(batch, exc)
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.last_commit_s = elapsed
        if self._on_batch is not None:
            try:
                self._on_batch(len(batch), elapsed)
            except Exception:  # noqa: BLE001 - metrics must not break storage
                log.debug("on_batch callback failed", exc_info=True)
        self._resolve(batch, outcome)

    def _commit_one_by_one(self, batch: list[_Waiter], error: BaseException) -> set[str] | BaseException:
        """A batch failed for an error that may be one row's fault: store its rows one by one so one bad
        row cannot fail the others. When the database itself becomes unavailable meanwhile, the rows not
        yet stored fail at once (one bounded wait, not one per row)."""
        rows = list({row.dedupe_key: row for row, _, _ in batch}.values())
        if len(rows) == 1:
            log.error("inbox write failed: %s", _describe(error))
            return InboxUnavailable(f"inbox write failed: {type(error).__name__}")
        log.warning("inbox batch of %d failed (%s); storing its rows one by one", len(rows), _describe(error))
        stored: set[str] = set()
        failed: set[str] = set()
        for index, row in enumerate(rows):
            try:
                stored |= self._store([row])
            except Exception as exc:  # noqa: BLE001 - sorted below, every waiter is answered
                if self._unavailable(exc):
                    log.error("inbox unavailable while storing rows one by one (%s)", _describe(exc))
                    failed.update(r.dedupe_key for r in rows[index:])
                    break
                log.error("inbox write failed for one row: %s", _describe(exc))
                failed.add(row.dedupe_key)
        if failed:
            return _PartialFailure(stored, failed)
        return stored

    def _resolve(self, batch: list[_Waiter], outcome: set[str] | BaseException) -> None:
        answered: set[str] = set()
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], bool | BaseException]]] = {}
        for row, future, loop in batch:
            result: bool | BaseException
            if isinstance(outcome, _PartialFailure):
                if row.dedupe_key in outcome.failed:
                    result = InboxUnavailable("inbox write failed")
                else:
                    result = row.dedupe_key in outcome.stored and row.dedupe_key not in answered
            elif isinstance(outcome, BaseException):
                result = outcome if isinstance(outcome, InboxUnavailable) else InboxUnavailable(str(outcome))
            else:
                # the first request for a key that was inserted now is "stored"; the rest are duplicates
                result = row.dedupe_key in outcome and row.dedupe_key not in answered
            if result is True:
                answered.add(row.dedupe_key)
                self.stats.stored += 1
            elif result is False:
                self.stats.duplicates += 1
            else:
                self.stats.failures += 1
            if loop is None:
                assert isinstance(future, Future)
                try:
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                except InvalidStateError:  # its caller stopped waiting (the deadline)
                    continue
            else:
                assert isinstance(future, asyncio.Future)
                by_loop.setdefault(loop, []).append((future, result))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                continue


def _describe(exc: BaseException) -> str:
    """The error's class and the first line of the driver's message (never the statement, its parameters or
    a row's values, which drivers put on later lines)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).splitlines()
    first = lines[0][:200] if lines else ""
    name = type(original).__name__ if original is exc else f"{type(exc).__name__}: {type(original).__name__}"
    return f"{name}: {first}" if first else name


class _PartialFailure(Exception):
    def __init__(self, stored: set[str], failed: set[str]) -> None:
        super().__init__("some rows failed")
        self.stored = stored
        self.failed = failed


def _settle(items: list[tuple[asyncio.Future[bool], bool | BaseException]]) -> None:
    for future, result in items:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


__all__ = ["DEFAULT_DEADLINE_S", "InboxUnavailable", "InboxWriter", "WriterStats"]
