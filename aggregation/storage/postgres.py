"""PostgreSQL backend (asyncpg pool); writers are serialised by a transaction advisory lock."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from ..rollups import today
from .base import StorageError
from .migrations import POSTGRES_MIGRATIONS
from .sql import Fetch, Many, Row, SqlRepository, Work, apply_migrations

# Arbitrary fixed keys for pg_advisory(_xact)_lock: one for writes, one for migrations.
_WRITE_LOCK = 7_250_114_001
_MIGRATE_LOCK = 7_250_114_002
# What a call on a connection raises when the server or the connection failed. A connection
# whose backend was terminated while idle can also answer its next query with asyncpg's
# InternalClientError ("another operation is in progress"): the protocol is stuck, and the
# connection must be replaced.
_FAILURES = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
    OSError,
    TimeoutError,
)
# The connection itself is gone or unusable: nothing sent on it can have taken effect.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions._base.InternalClientError,
    OSError,
)
_PLACEHOLDER = re.compile(r"\?")
_ROWCOUNT = re.compile(r"(\d+)$")


def to_pg(sql: str) -> str:
    """Rewrite `?` placeholders into PostgreSQL's $1, $2, ..."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


class _Tx:
    """Statements on one asyncpg connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            return [tuple(r) for r in await self._conn.fetch(to_pg(sql), *args)]
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        try:
            status = await self._conn.execute(to_pg(sql), *args)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err
        match = _ROWCOUNT.search(status or "")
        return int(match.group(1)) if match else 0

    async def execute_native(self, sql: str, args: Sequence[Any]) -> None:
        """A statement already in PostgreSQL's $n form."""
        try:
            await self._conn.execute(sql, *args)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            await self._conn.executemany(to_pg(sql), [tuple(r) for r in rows])
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err


_INSERT = re.compile(r"^INSERT INTO (\w+) \(([^)]*)\) VALUES \([?, ]+\)([^?]*)$", re.DOTALL)


def _array_type(values: Sequence[Any]) -> str:
    """The PostgreSQL array type for one column of rows (ints or text; NULLs allowed)."""
    kinds = {type(v) for v in values if v is not None}
    return "bigint[]" if kinds == {int} else "text[]"


def combine_inserts(statements: Sequence[Many]) -> tuple[str, list[Any]] | None:
    """Several multi-row INSERTs as one statement (one round trip), or None if one isn't.

    Each becomes a data-modifying WITH clause over unnest()ed column arrays. They run on one
    snapshot, so this is only valid for writes that do not read each other's rows, which is
    what the shared write logic guarantees between two reads.
    """
    clauses: list[str] = []
    args: list[Any] = []
    for number, statement in enumerate(statements):
        match = _INSERT.match(statement.sql)
        if match is None:
            return None
        table, columns, tail = match.groups()
        arrays = []
        for column in zip(*statement.rows, strict=True):
            args.append(list(column))
            arrays.append(f"${len(args)}::{_array_type(column)}")
        clauses.append(
            f"w{number} AS (INSERT INTO {table} ({columns}) "
            f"SELECT * FROM unnest({', '.join(arrays)}){tail})"
        )
    return "WITH " + ", ".join(clauses) + " SELECT 1", args


async def _run[T](conn: asyncpg.Connection, work: Work[T]) -> T:
    """Drive `work` on `conn`; consecutive writes go out together as one statement."""
    tx = _Tx(conn)
    pending: list[Many] = []

    async def flush() -> None:
        combined = combine_inserts(pending) if len(pending) > 1 else None
        if combined is not None:
            await tx.execute_native(*combined)
        else:
            for statement in pending:
                await tx.many(statement.sql, statement.rows)
        pending.clear()

    try:
        statement = next(work)
        while True:
            result: Any = None
            if isinstance(statement, Many):
                if statement.rows:
                    pending.append(statement)  # no result to wait for: sent with the next
            else:
                await flush()
                if isinstance(statement, Fetch):
                    result = await tx.fetch(statement.sql, statement.args)
                else:
                    result = await tx.execute(statement.sql, statement.args)
            statement = work.send(result)
    except StopIteration as done:
        await flush()
        value: T = done.value
        return value
    finally:
        work.close()


class PostgresRepository(SqlRepository):
    """asyncpg: a pool for reads, one connection for writes, which hold an advisory lock.

    A group commit is four round trips whatever its size: BEGIN with the lock, one read of
    everything the batch depends on, one statement with every write, COMMIT. Under load each
    round trip waits for a turn of the busy event loop, so their number sets the latency.
    """

    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url
        self._write_conn: asyncpg.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, max_size: int = 10) -> PostgresRepository:
        """Connect a pool and apply migrations."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=max_size, command_timeout=30, timeout=10
            )
        except (asyncpg.PostgresError, OSError, TimeoutError) as err:
            raise StorageError(f"cannot connect to PostgreSQL: {err}") from err
        repo = cls(pool, url)
        try:
            await repo._migrate()
        except BaseException:
            await pool.close()
            raise
        return repo

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await _Tx(conn).execute("SELECT pg_advisory_xact_lock(?)", [_MIGRATE_LOCK])
            await _run(conn, apply_migrations(POSTGRES_MIGRATIONS, today()))

    async def _writer(self) -> asyncpg.Connection:
        if self._closed:
            raise StorageError("the PostgreSQL repository is closed")
        if self._write_conn is None or self._write_conn.is_closed():
            # Outside the pool: releasing a pooled connection costs a reset round trip.
            self._write_conn = await asyncpg.connect(self._url, timeout=10, command_timeout=30)
        return self._write_conn

    def _drop_writer(self, conn: asyncpg.Connection) -> None:
        """Close the write connection at once; the next write opens a new one."""
        conn.terminate()  # the server ends any transaction the connection had open
        if self._write_conn is conn:
            self._write_conn = None

    async def _begin_write(self) -> asyncpg.Connection:
        """The write connection, in a new transaction that holds the write lock.

        A connection whose backend went away while idle (PostgreSQL restarted, the backend
        was terminated) shows it here, before any of the work was sent: it is replaced and
        the transaction begun again on a new one, so no write fails for a stale connection.
        """
        for attempt in range(2):
            conn = await self._writer()
            try:
                # One round trip: the transaction and the lock that keeps the read-modify-write
                # of rate windows and rollups exact across every server process.
                await conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            except _CONNECTION_LOST:
                self._drop_writer(conn)
                if attempt:
                    raise
            except BaseException:  # cancelled or timed out waiting for the lock
                self._drop_writer(conn)
                raise
            else:
                return conn
        raise AssertionError("unreachable")

    async def _run_write[T](self, work: Work[T]) -> T:
        async with self._write_lock:
            try:
                conn = await self._begin_write()
                try:
                    result = await _run(conn, work)
                    await conn.execute("COMMIT")
                except BaseException:
                    await self._abandon(conn)
                    raise
                return result
            except _FAILURES as err:
                raise StorageError(f"postgresql: {err}") from err

    async def _abandon(self, conn: asyncpg.Connection) -> None:
        """End a failed write's transaction; a connection that cannot do that is replaced."""
        if conn.is_closed():
            self._drop_writer(conn)
            return
        try:
            await conn.execute("ROLLBACK")
        except BaseException:
            self._drop_writer(conn)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[_Tx]:
        try:
            async with self._pool.acquire() as conn:
                yield _Tx(conn)
        except _FAILURES as err:
            raise StorageError(f"postgresql: {err}") from err

    def _in(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return "= ANY(?)", [list(values)]

    async def close(self) -> None:
        """Close the write connection and the pool."""
        self._closed = True
        async with self._write_lock:
            if self._write_conn is not None and not self._write_conn.is_closed():
                await self._write_conn.close()
        await self._pool.close()
