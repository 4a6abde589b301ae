"""SQLite backend (aiosqlite, WAL): one writer connection, one reader connection."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from ..rollups import today
from .base import StorageError
from .migrations import SQLITE_MIGRATIONS
from .sql import Row, SqlRepository, apply_migrations


def sqlite_path(url: str) -> str:
    """File path of a sqlite:/// URL (sqlite:////abs/path, sqlite:///rel/path, :memory:)."""
    path = url.removeprefix("sqlite://")
    if path.startswith("/"):
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db"
        path = path[1:]
    if not path:
        raise StorageError("DATABASE_URL names no SQLite file")
    return path


class _Tx:
    """Statements on one aiosqlite connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            return list(await self._conn.execute_fetchall(sql, tuple(args)))
        except sqlite3.Error as err:
            raise StorageError(f"sqlite: {err}") from err

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        try:
            cursor = await self._conn.execute(sql, tuple(args))
        except sqlite3.Error as err:
            raise StorageError(f"sqlite: {err}") from err
        count = cursor.rowcount
        await cursor.close()
        return max(count, 0)

    async def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            await self._conn.executemany(sql, [tuple(r) for r in rows])
        except sqlite3.Error as err:
            raise StorageError(f"sqlite: {err}") from err


class SqliteRepository(SqlRepository):
    """aiosqlite in WAL mode; writes are serialised and fsynced (synchronous=FULL)."""

    backend = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> SqliteRepository:
        """Open the file (creating its folder), switch to WAL and apply migrations."""
        path = sqlite_path(url)
        memory = path == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            writer = await cls._connect(path)
            reader = writer if memory else await cls._connect(path)
        except (sqlite3.Error, OSError) as err:
            raise StorageError(f"cannot open SQLite database: {err}") from err
        repo = cls(writer, reader)
        await repo._migrate()
        return repo

    @staticmethod
    async def _connect(path: str) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(path, isolation_level=None)
        # Several server processes may share the file: wait for the write lock, don't fail.
        await conn.execute("PRAGMA busy_timeout = 15000")
        await conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before the request is acknowledged (survives power loss);
        # group commit keeps the fsync cost per submission small.
        await conn.execute("PRAGMA synchronous = FULL")
        return conn

    async def _migrate(self) -> None:
        async with self._write_tx() as tx:
            await apply_migrations(tx, SQLITE_MIGRATIONS, today())

    @asynccontextmanager
    async def _write_tx(self) -> AsyncIterator[_Tx]:
        async with self._lock:
            tx = _Tx(self._writer)
            # IMMEDIATE takes the file's write lock up front, so two processes never deadlock
            # upgrading read locks; busy_timeout makes the other one wait its turn.
            await tx.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                with suppress(sqlite3.Error):
                    await self._writer.rollback()
                raise
            try:
                await self._writer.commit()
            except sqlite3.Error as err:
                raise StorageError(f"sqlite commit failed: {err}") from err

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[_Tx]:
        yield _Tx(self._reader)

    def _in(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if not values:
            return "IN (NULL)", []
        return f"IN ({', '.join('?' * len(values))})", list(values)

    async def close(self) -> None:
        """Close both connections (waits for a running write)."""
        async with self._lock:
            if self._reader is not self._writer:
                await self._reader.close()
            await self._writer.close()
