"""PostgreSQL backend (asyncpg pool); writers are serialised by a transaction advisory lock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from ..rollups import today
from .base import StorageError
from .migrations import POSTGRES_MIGRATIONS
from .sql import Row, SqlRepository, apply_migrations

# Arbitrary fixed keys for pg_advisory(_xact)_lock: one for writes, one for migrations.
_WRITE_LOCK = 7_250_114_001
_MIGRATE_LOCK = 7_250_114_002
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

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            await self._conn.executemany(to_pg(sql), [tuple(r) for r in rows])
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err


class PostgresRepository(SqlRepository):
    """asyncpg connection pool; every write transaction holds one advisory lock."""

    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = 10) -> PostgresRepository:
        """Connect a pool and apply migrations."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=max_size, command_timeout=30, timeout=10
            )
        except (asyncpg.PostgresError, OSError, TimeoutError) as err:
            raise StorageError(f"cannot connect to PostgreSQL: {err}") from err
        repo = cls(pool)
        try:
            await repo._migrate()
        except BaseException:
            await pool.close()
            raise
        return repo

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            tx = _Tx(conn)
            await tx.execute("SELECT pg_advisory_xact_lock(?)", [_MIGRATE_LOCK])
            await apply_migrations(tx, POSTGRES_MIGRATIONS, today())

    @asynccontextmanager
    async def _write_tx(self) -> AsyncIterator[_Tx]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                tx = _Tx(conn)
                # One writer at a time across every server process: keeps the
                # read-modify-write of rate windows and rollups exact.
                await tx.execute("SELECT pg_advisory_xact_lock(?)", [_WRITE_LOCK])
                yield tx
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[_Tx]:
        try:
            async with self._pool.acquire() as conn:
                yield _Tx(conn)
        except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as err:
            raise StorageError(f"postgresql: {err}") from err

    def _in(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return "= ANY(?)", [list(values)]

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()
