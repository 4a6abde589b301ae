"""SQLite backend (WAL): a writer connection and a reader connection, each on its own thread."""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from ..rollups import today
from .base import StorageError
from .migrations import SQLITE_MIGRATIONS
from .sql import Execute, Fetch, Row, SqlRepository, Work, apply_migrations

_LOGGER = logging.getLogger(__name__)
_CHECKPOINT_SECONDS = 1.0
# How long a writer waits for another server process's write lock before giving up (503).
_LOCK_WAIT_SECONDS = 15


def sqlite_path(url: str) -> str:
    """File path of a sqlite:/// URL (sqlite:////abs/path, sqlite:///rel/path, :memory:)."""
    path = url.removeprefix("sqlite://")
    if path.startswith("/"):
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db"
        path = path[1:]
    if not path:
        raise StorageError("DATABASE_URL names no SQLite file")
    return path


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode, waiting while another connection does the same.

    SQLite answers SQLITE_BUSY at once, without its busy handler, when two connections
    switch a new file to WAL together: two server processes starting on one new file did
    exactly that, and one of them failed its start-up.
    """
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            busy = getattr(err, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.005)  # on the connection's own thread, never the event loop


class _Connection:
    """One sqlite3 connection and its own thread, for the calls that may wait (I/O, locks).

    Calls queue up in order on the thread; `run_here` runs quick work on the caller's thread
    and is only used between awaited calls of the same writer, never concurrently.

    The thread is a plain one fed by a SimpleQueue, not a ThreadPoolExecutor: a commit is
    one hand-off per group commit, and the executor's work item, concurrent future and the
    chaining of that future onto the loop's cost ~0.2 ms of CPU per commit
    (docs/BENCHMARKS.md); here it is one queue put and one `call_soon_threadsafe`.
    """

    def __init__(self, path: str, name: str, *, busy_ms: int = _LOCK_WAIT_SECONDS * 1000) -> None:
        self._busy_ms = busy_ms
        self._path = path
        self._name = name
        self._inbox: queue.SimpleQueue[_Call[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._conn: sqlite3.Connection | None = None

    async def call[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the connection's thread; sqlite3 errors → StorageError.

        Once queued, `fn` runs even if the caller stops waiting (a COMMIT is never left out).
        """
        return await self._on_thread(lambda: self._run(fn))

    async def _on_thread[T](self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StorageError("the SQLite database is closed")
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._inbox.put((fn, loop, future))
        return await future

    def _serve(self) -> None:
        """The connection's thread: run each queued call, hand its outcome to its loop."""
        while (item := self._inbox.get()) is not None:
            fn, loop, future = item
            try:
                outcome: Any = fn()
                failed = False
            except BaseException as err:  # handed to the waiting coroutine, raised there
                outcome, failed = err, True
            with suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, outcome, failed)

    def _run[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise StorageError("the SQLite database is closed")
        try:
            return fn(self._conn)
        except sqlite3.Error as err:
            raise StorageError(f"sqlite: {err}") from err

    def run_here[T](self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the calling thread (never while a call is queued)."""
        return self._run(fn)

    async def open(self) -> None:
        """Connect and configure (WAL, durable commits, wait for other processes' locks)."""

        def connect() -> None:
            conn = sqlite3.connect(
                self._path,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=_STATEMENT_CACHE,
            )
            try:
                # Several server processes may open the file at once: wait for each other here.
                conn.execute(f"PRAGMA busy_timeout = {_LOCK_WAIT_SECONDS * 1000}")
                _switch_to_wal(conn)
            except BaseException:
                conn.close()
                raise
            # FULL: a commit is on disk before the request is acknowledged (survives power
            # loss); group commit keeps the fsync cost per submission small.
            conn.execute("PRAGMA synchronous = FULL")
            # Checkpoints run in the background (SqliteRepository._checkpoint_periodically);
            # the WAL file is cut back to this size after each one.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            self._conn = conn

        try:
            await self._on_thread(connect)
        except (sqlite3.Error, OSError) as err:
            raise StorageError(f"cannot open SQLite database: {err}") from err

    async def close(self) -> None:
        """Close after every queued call has run."""

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._closed:
            return
        thread = self._thread
        await self._on_thread(close)
        self._closed = True
        self._inbox.put(None)
        if thread is not None:
            thread.join()  # it has nothing left to do but return


type _Call[T] = tuple[Callable[[], T], asyncio.AbstractEventLoop, asyncio.Future[T]]


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.cancelled():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


# One multi-row INSERT is one SQLite step where executemany is one per row: far fewer
# round trips through the sqlite3 module (and, on a thread, fewer GIL hand-offs).
_VALUES = re.compile(r"^(INSERT INTO .*? VALUES )(\([?, ]+\))(.*)$", re.DOTALL)
_MAX_PARAMS = 900  # stays under every SQLite build's variable limit (999 before 3.32)
# Compiling a 24-row upsert costs as much as running it, and every batch size is its own
# statement text: a cache this size keeps them all compiled (the default 128 did not, with
# two server processes). IN lists are padded (below) so they add few texts.
_STATEMENT_CACHE = 1024


def _many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    if len(rows) == 1:
        conn.execute(sql, rows[0])
        return
    per_chunk = max(1, _MAX_PARAMS // max(1, len(rows[0])))
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        text = _multi_row(sql, len(chunk))
        if text is None:
            conn.executemany(sql, chunk)
            continue
        conn.execute(text, [value for row in chunk for value in row])


@functools.lru_cache(maxsize=_STATEMENT_CACHE)
def _multi_row(sql: str, count: int) -> str | None:
    """`sql` (INSERT ... VALUES (?, ...)) with `count` rows of values; None for other SQL.

    Built once per statement and size: the regular expression and the joining cost as much
    as a one-row statement's whole run.
    """
    match = _VALUES.match(sql)
    if match is None:
        return None
    head, group, tail = match.groups()
    return head + ", ".join([group] * count) + tail


def padded(values: Sequence[Any]) -> list[Any]:
    """`values` with its last one repeated up to a size from a small fixed set.

    IN (...) is the same test with repeated values; a few list sizes mean a few statement
    texts, which the statement cache keeps compiled.
    """
    count = len(values)
    size = 1 << (count - 1).bit_length() if count <= 16 else -(-count // 16) * 16
    return [*values, *[values[-1]] * (size - count)] if count else []


def _begin(conn: sqlite3.Connection) -> None:
    # IMMEDIATE takes the file's write lock up front, so two processes never deadlock
    # upgrading read locks; busy_timeout makes the other one wait its turn.
    conn.execute("BEGIN IMMEDIATE")


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _run_statements[T](conn: sqlite3.Connection, work: Work[T]) -> T:
    """Run every statement of `work` inside the open transaction; the work's result."""
    try:
        statement = next(work)
        while True:
            result: Any = None
            if isinstance(statement, Fetch):
                result = conn.execute(statement.sql, tuple(statement.args)).fetchall()
            elif isinstance(statement, Execute):
                result = max(conn.execute(statement.sql, tuple(statement.args)).rowcount, 0)
            elif statement.rows:
                _many(conn, statement.sql, statement.rows)
            statement = work.send(result)
    except StopIteration as done:
        value: T = done.value
        return value
    finally:
        work.close()


class _Tx:
    """Read statements on the reader connection."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._conn.call(lambda c: c.execute(sql, tuple(args)).fetchall())


class SqliteRepository(SqlRepository):
    """SQLite in WAL mode: lock polled off the loop, statements on the loop, COMMIT on a thread.

    The file's write lock is held only for the SQL and the fsync, never across turns of a
    busy event loop: that is what lets several server processes share one file.
    """

    backend = "sqlite"

    def __init__(self, writer: _Connection, reader: _Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._checkpoints: asyncio.Task[None] | None = None
        # Set by every commit: the checkpointer sleeps on it, so an idle server never wakes.
        self._written = asyncio.Event()

    @classmethod
    async def open(cls, url: str) -> SqliteRepository:
        """Open the file (creating its folder), switch to WAL and apply migrations."""
        path = sqlite_path(url)
        memory = path == ":memory:"
        if not memory:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StorageError(f"cannot open SQLite database: {err}") from err
        # The writer never waits inside SQLite: _begin polls for the lock instead.
        writer = _Connection(path, "aggregation-sqlite-writer", busy_ms=0)
        await writer.open()
        reader = writer
        if not memory:  # an in-memory database exists only on its one connection
            reader = _Connection(path, "aggregation-sqlite-reader")
            await reader.open()
        repo = cls(writer, reader)
        await repo._run_write(apply_migrations(SQLITE_MIGRATIONS, today()))
        if not memory:
            repo._checkpoints = asyncio.create_task(
                repo._checkpoint_periodically(), name="aggregation-sqlite-checkpoint"
            )
        return repo

    async def _checkpoint_periodically(self) -> None:
        """Copy the WAL into the database in the background, never inside a commit.

        SQLite's automatic checkpoint runs in the commit that crosses the threshold and holds
        the write lock meanwhile: tens of milliseconds that every waiting submission felt.
        PASSIVE checkpoints on the reader's thread run alongside writers instead: at most one
        a second, and only after a commit (an idle server does not wake up for them).
        """
        while True:
            await self._written.wait()
            self._written.clear()
            await asyncio.sleep(_CHECKPOINT_SECONDS)
            try:
                await self._reader.call(_checkpoint)
            except StorageError as err:
                _LOGGER.debug("WAL checkpoint skipped: %s", err)

    async def _run_write[T](self, work: Work[T]) -> T:
        async with self._write_lock:
            await self._begin()
            try:
                # The statements run right here, on the event loop's thread. On the writer
                # thread every sqlite3 step hands the GIL back and forth with this busy loop,
                # which made a 32-row transaction take ~30 ms of wall time for ~4 ms of work.
                result = self._writer.run_here(lambda conn: _run_statements(conn, work))
            except BaseException:
                await self._writer.call(_rollback)
                raise
            # The commit waits for the disk (fsync): on the writer's thread, off the loop.
            await self._writer.call(_commit)
            self._written.set()
            return result

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE without blocking the loop: another process's lock is polled.

        SQLite's own busy handler sleeps in steps of up to 100 ms and lets one process
        starve the other; short async polls keep both processes' waits in milliseconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _LOCK_WAIT_SECONDS
        delay = 0.0005
        while True:
            try:
                self._writer.run_here(_begin)
                return
            except StorageError as err:
                busy = getattr(err.__cause__, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
                if not busy or loop.time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.002)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[_Tx]:
        yield _Tx(self._reader)

    def _in(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if not values:
            return "IN (NULL)", []
        args = padded(values)
        return f"IN ({', '.join('?' * len(args))})", args

    async def close(self) -> None:
        """Close both connections (after a running write)."""
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()
