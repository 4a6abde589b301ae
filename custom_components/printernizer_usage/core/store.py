"""The local SQLite store (aiosqlite, WAL): migrations, events, daily rollups, settings, outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import aiosqlite

from .models import UsageEvent

_LOGGER = logging.getLogger(__name__)

# aiosqlite logs every statement with its parameters at DEBUG: with a host's debug logging on,
# the deletion secret and every event would be written to its log. Unless someone set that
# logger's level on purpose, it says only what goes wrong.
if logging.getLogger("aiosqlite").level == logging.NOTSET:
    logging.getLogger("aiosqlite").setLevel(logging.INFO)

UPTIME_KEY: Final = "_uptime_seconds"


class StoreError(Exception):
    """The store cannot be used (for example: it was written by a newer version)."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step with its way back."""

    version: int
    up: str
    down: str


# Raw events are stored compactly: each row holds a time and a "kind" (one distinct event type +
# metadata combination, interned in usage_kinds), so a year at 1,000 events a day stays small.
# Rollups intern their (event type, dimension) series the same way; days are day numbers.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        """
        CREATE TABLE usage_kinds (
            id INTEGER PRIMARY KEY,
            event_type TEXT NOT NULL,
            metadata TEXT NOT NULL,
            UNIQUE (event_type, metadata)
        );
        CREATE TABLE usage_events (
            id INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            kind INTEGER NOT NULL REFERENCES usage_kinds (id),
            submitted INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE usage_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE usage_series (
            id INTEGER PRIMARY KEY,
            event_type TEXT NOT NULL,
            dimension TEXT NOT NULL,
            UNIQUE (event_type, dimension)
        );
        CREATE TABLE usage_aggregates (
            day INTEGER NOT NULL,
            series INTEGER NOT NULL REFERENCES usage_series (id),
            count INTEGER NOT NULL,
            PRIMARY KEY (day, series)
        ) WITHOUT ROWID;
        """,
        """
        DROP TABLE usage_aggregates;
        DROP TABLE usage_series;
        DROP TABLE usage_settings;
        DROP TABLE usage_events;
        DROP TABLE usage_kinds;
        """,
    ),
    Migration(
        2,
        """
        CREATE TABLE usage_outbox (
            period_start TEXT PRIMARY KEY,
            period_end TEXT NOT NULL,
            submission_id TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at INTEGER NOT NULL,
            sent_at INTEGER
        ) WITHOUT ROWID;
        CREATE INDEX ix_usage_outbox_status ON usage_outbox (status, next_attempt_at);
        """,
        """
        DROP TABLE usage_outbox;
        """,
    ),
)
SCHEMA_VERSION: Final = MIGRATIONS[-1].version


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event ready to be written: already sanitised by the privacy guard."""

    event_type: str
    ts: float
    metadata: dict[str, str | int | bool]
    dimension: str = ""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A closed period's payload waiting for (or done with) delivery."""

    period_start: str
    period_end: str
    submission_id: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    created_at: int
    sent_at: int | None


_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


def day_number(day: date) -> int:
    """Days since 1970-01-01: how rollups store a day (two bytes instead of ten)."""
    return day.toordinal() - _EPOCH_ORDINAL


def day_from_number(number: int) -> date:
    """The date of a stored day number."""
    return date.fromordinal(number + _EPOCH_ORDINAL)


def _canonical(metadata: dict[str, str | int | bool]) -> str:
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"))


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


async def _put_settings(db: aiosqlite.Connection, values: Mapping[str, Any]) -> None:
    """Write settings inside the caller's transaction; a value of None deletes the key."""
    now = _now()
    for key, value in values.items():
        if value is None:
            await db.execute("DELETE FROM usage_settings WHERE key = ?", (key,))
        else:
            await db.execute(
                "INSERT INTO usage_settings (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, json.dumps(value), now),
            )


class UsageStore:
    """Repository over one SQLite file; every method is a coroutine, nothing blocks the loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        # One connection is shared by every caller: writes take turns, so one caller's
        # BEGIN..COMMIT never swallows (or rolls back) another caller's statements.
        self._write_lock = asyncio.Lock()
        # Interned ids of (event type, metadata) kinds and (event type, dimension) series.
        self._kinds: dict[tuple[str, str], int] = {}
        self._kind_ids: dict[tuple[str, str, tuple[tuple[str, Any], ...]], int] = {}
        self._kind_series: dict[int, tuple[str, str]] = {}
        self._series: dict[tuple[str, str], int] = {}

    def _clear_caches(self) -> None:
        self._kinds.clear()
        self._kind_ids.clear()
        self._kind_series.clear()
        self._series.clear()

    @property
    def is_open(self) -> bool:
        """Whether the connection is open."""
        return self._db is not None

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection (raises StoreError when closed)."""
        if self._db is None:
            raise StoreError("the usage store is not open")
        return self._db

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block as one transaction, one writer at a time."""
        async with self._write_lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled while waiting: the connection's thread still runs the BEGIN, and
                # a transaction left open would refuse every later one. End it (a ROLLBACK
                # with nothing open just fails, which is fine) before the lock is given up.
                with contextlib.suppress(Exception):
                    await db.rollback()
                raise
            try:
                yield db
            except BaseException:
                await db.rollback()
                self._clear_caches()
                raise
            await db.commit()

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement, taking its turn with the transactions; returns rows changed."""
        async with self._write_lock:
            cursor = await self.db.execute(sql, params)
            try:
                return cursor.rowcount
            finally:
                # A statement that returns a row (a PRAGMA) stays in progress until its cursor
                # is closed, and would keep VACUUM and checkpoints from running.
                await cursor.close()

    async def open(self, *, target_version: int = SCHEMA_VERSION) -> None:
        """Open (creating if needed) and migrate to `target_version`."""
        if self._db is not None:
            return
        if str(self.path) != ":memory:":
            await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
        # Autocommit: transactions are opened explicitly where statements belong together.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a killed process.
            await db.execute("PRAGMA synchronous=NORMAL")
            # What is deleted (events, an installation id, a secret) is overwritten, not left
            # readable in free space of the file.
            await db.execute("PRAGMA secure_delete=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            self._db = db
            await self.migrate(target_version)
        except BaseException:
            self._db = None
            await db.close()
            raise

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def schema_version(self) -> int:
        """The migration number the file is at."""
        async with self.db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, target_version: int = SCHEMA_VERSION) -> None:
        """Run migrations up or down to `target_version`."""
        current = await self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this version of "
                f"printernizer_usage understands ({SCHEMA_VERSION}); update printernizer_usage "
                "or delete the file to start over"
            )
        if not 0 <= target_version <= SCHEMA_VERSION:
            raise StoreError(f"no schema version {target_version}")
        steps: list[tuple[int, str]]
        self._clear_caches()
        if current == 0 and target_version > 0:
            # Only possible before the first table exists: lets pruning give space back.
            await self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if target_version >= current:
            steps = [(m.version, m.up) for m in MIGRATIONS if current < m.version <= target_version]
        else:
            steps = [
                (m.version - 1, m.down)
                for m in reversed(MIGRATIONS)
                if target_version < m.version <= current
            ]
        async with self._write_lock:
            for version, script in steps:
                await self.db.executescript(
                    f"BEGIN; {script} PRAGMA user_version = {int(version)}; COMMIT;"
                )
                _LOGGER.debug("usage store %s migrated to schema %s", self.path, version)

    # --- events ------------------------------------------------------------------------------

    async def _intern(
        self, cache: dict[tuple[str, str], int], table: str, columns: str, key: tuple[str, str]
    ) -> int:
        found = cache.get(key)
        if found is None:
            await self.db.execute(
                f"INSERT OR IGNORE INTO {table} ({columns}) VALUES (?, ?)",
                key,
            )
            async with self.db.execute(
                f"SELECT id FROM {table} WHERE ({columns}) = (?, ?)",
                key,
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None
            found = cache[key] = int(row[0])
        return found

    async def _series_id(self, event_type: str, dimension: str) -> int:
        return await self._intern(
            self._series, "usage_series", "event_type, dimension", (event_type, dimension)
        )

    async def insert_events(self, rows: Sequence[EventRow]) -> int:
        """Write events and their daily rollups in one transaction; returns how many."""
        if not rows:
            return 0
        async with self._transaction() as db:
            # Hot path (tens of thousands of rows a second): one cheap dictionary lookup per
            # row; JSON and SQL only for a kind not seen before.
            kind_ids = self._kind_ids
            if len(kind_ids) > 10_000:
                kind_ids.clear()
            values: list[tuple[int, int]] = []
            per_day_kind: dict[tuple[int, int], int] = {}
            for row in rows:
                key = (row.event_type, row.dimension, tuple(row.metadata.items()))
                kind = kind_ids.get(key)
                if kind is None:
                    kind = kind_ids[key] = await self._intern(
                        self._kinds,
                        "usage_kinds",
                        "event_type, metadata",
                        (row.event_type, _canonical(row.metadata)),
                    )
                    self._kind_series[kind] = (row.event_type, row.dimension)
                ts = int(row.ts)
                values.append((ts, kind))
                bucket = (ts // 86_400, kind)  # UTC day number, the same as day_number()
                per_day_kind[bucket] = per_day_kind.get(bucket, 0) + 1
            rollup: Counter[tuple[int, str, str]] = Counter()
            for (day, kind), count in per_day_kind.items():
                event_type, dimension = self._kind_series[kind]
                rollup[(day, event_type, "")] += count
                if dimension:
                    rollup[(day, event_type, dimension)] += count
            await db.executemany("INSERT INTO usage_events (ts, kind) VALUES (?, ?)", values)
            await self._add_rollups(rollup.items())
        return len(values)

    async def _add_rollups(self, items: Iterable[tuple[tuple[int, str, str], int]]) -> None:
        params = [
            (day, await self._series_id(event_type, dimension), count)
            for (day, event_type, dimension), count in items
        ]
        await self.db.executemany(
            "INSERT INTO usage_aggregates (day, series, count) VALUES (?, ?, ?) "
            "ON CONFLICT (day, series) DO UPDATE SET count = count + excluded.count",
            params,
        )

    async def add_uptime(self, day: date, seconds: int) -> None:
        """Account running time to a day (uptime is reported in whole hours only)."""
        if seconds <= 0:
            return
        async with self._transaction():
            await self._add_rollups([((day_number(day), UPTIME_KEY, ""), seconds)])

    async def get_events(
        self,
        *,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        submitted: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[UsageEvent]:
        """Raw events, newest first, filtered by type, time range [since, until) and state."""
        clauses: list[str] = []
        params: list[Any] = []
        if event_type is not None:
            clauses.append("k.event_type = ?")
            params.append(event_type)
        if since is not None:
            clauses.append("e.ts >= ?")
            params.append(int(since.timestamp()))
        if until is not None:
            clauses.append("e.ts < ?")
            params.append(int(until.timestamp()))
        if submitted is not None:
            clauses.append("e.submitted = ?")
            params.append(int(submitted))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            "SELECT e.id, k.event_type, e.ts, k.metadata, e.submitted FROM usage_events e "
            f"JOIN usage_kinds k ON k.id = e.kind {where} "
            "ORDER BY e.ts DESC, e.id DESC LIMIT ? OFFSET ?"
        )
        params += [-1 if limit is None else limit, offset]
        async with self.db.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [
            UsageEvent(
                id=row[0],
                event_type=row[1],
                timestamp=datetime.fromtimestamp(row[2], UTC),
                metadata=json.loads(row[3]),
                submitted=bool(row[4]),
            )
            for row in rows
        ]

    async def count_events(self) -> tuple[int, datetime | None]:
        """How many raw events are kept, and when the oldest happened."""
        # Events arrive in time order, so the lowest id is the oldest: no scan for MIN(ts).
        async with self.db.execute(
            "SELECT COUNT(*), (SELECT ts FROM usage_events ORDER BY id LIMIT 1) FROM usage_events"
        ) as cursor:
            row = await cursor.fetchone()
        if not row or not row[0]:
            return 0, None
        return int(row[0]), datetime.fromtimestamp(row[1], UTC)

    async def mark_submitted(self, until: datetime) -> int:
        """Flag raw events before `until` as covered by a delivered report."""
        return await self._write(
            "UPDATE usage_events SET submitted = 1 WHERE submitted = 0 AND ts < ?",
            (int(until.timestamp()),),
        )

    async def prune_events(self, before: datetime) -> int:
        """Delete raw events older than `before`, and the kinds no event has any more; their
        daily rollups stay."""
        return await self._prune(
            "DELETE FROM usage_events WHERE ts < ?",
            int(before.timestamp()),
            "DELETE FROM usage_kinds WHERE id NOT IN (SELECT kind FROM usage_events)",
        )

    async def prune_rollups(self, before: date) -> int:
        """Delete daily rollups older than `before`, and the series no rollup has any more."""
        return await self._prune(
            "DELETE FROM usage_aggregates WHERE day < ?",
            day_number(before),
            "DELETE FROM usage_series WHERE id NOT IN (SELECT series FROM usage_aggregates)",
        )

    async def _prune(self, delete: str, before: int, orphans: str) -> int:
        """Retention: old rows go, and the interned names only they used (what was pruned is
        not left behind in a lookup table, where an export would no longer show it)."""
        async with self._transaction() as db:
            async with db.execute(delete, (before,)) as cursor:
                deleted = cursor.rowcount
            if deleted:
                async with db.execute(orphans) as cursor:
                    if cursor.rowcount:
                        # Cached ids may name deleted rows: intern afresh.
                        self._clear_caches()
        await self._write("PRAGMA incremental_vacuum")
        return deleted

    async def rollups(self, first: date, end: date) -> list[tuple[str, str, str, int]]:
        """Daily counts (ISO day, event_type, dimension, count) for first <= day < end."""
        async with self.db.execute(
            "SELECT a.day, s.event_type, s.dimension, a.count FROM usage_aggregates a "
            "JOIN usage_series s ON s.id = a.series WHERE a.day >= ? AND a.day < ? "
            "ORDER BY a.day, s.event_type, s.dimension",
            (day_number(first), day_number(end)),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(day_from_number(r[0]).isoformat(), r[1], r[2], int(r[3])) for r in rows]

    async def daily_totals(self, first: date, end: date) -> list[tuple[date, str, int]]:
        """Per-day event counts (day, event_type, count), no breakdowns, first <= day < end."""
        async with self.db.execute(
            "SELECT a.day, s.event_type, a.count FROM usage_series s "
            "JOIN usage_aggregates a ON a.series = s.id "
            "WHERE s.dimension = '' AND a.day >= ? AND a.day < ?",
            (day_number(first), day_number(end)),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(day_from_number(r[0]), r[1], int(r[2])) for r in rows]

    async def rollup_totals(self, first: date, end: date) -> list[tuple[str, str, int]]:
        """Counts (event_type, dimension, count) summed over first <= day < end."""
        async with self.db.execute(
            "SELECT s.event_type, s.dimension, t.total FROM ("
            "SELECT series, SUM(count) AS total FROM usage_aggregates "
            "WHERE day >= ? AND day < ? GROUP BY series) t JOIN usage_series s ON s.id = t.series",
            (day_number(first), day_number(end)),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def first_day(self) -> date | None:
        """The earliest day any rollup covers."""
        async with self.db.execute("SELECT MIN(day) FROM usage_aggregates") as cursor:
            row = await cursor.fetchone()
        return day_from_number(row[0]) if row and row[0] is not None else None

    # --- settings ----------------------------------------------------------------------------

    async def get_setting(self, key: str, default: Any = None) -> Any:
        """A JSON-decoded setting, or `default`."""
        async with self.db.execute(
            "SELECT value FROM usage_settings WHERE key = ?", (key,)
        ) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row else default

    async def get_settings(self) -> dict[str, Any]:
        """Every setting, JSON-decoded."""
        async with self.db.execute("SELECT key, value FROM usage_settings") as cursor:
            rows = await cursor.fetchall()
        return {row[0]: json.loads(row[1]) for row in rows}

    async def set_settings(self, values: dict[str, Any]) -> None:
        """Write several settings atomically; a value of None deletes the key."""
        async with self._transaction() as db:
            await _put_settings(db, values)

    async def set_setting(self, key: str, value: Any) -> None:
        """Write one setting (None deletes it)."""
        await self.set_settings({key: value})

    # --- outbox ------------------------------------------------------------------------------

    async def outbox_put(
        self, period_start: str, period_end: str, submission_id: str, payload: str
    ) -> bool:
        """Queue a closed period's payload once; returns False when it was already queued."""
        inserted = await self._write(
            "INSERT OR IGNORE INTO usage_outbox (period_start, period_end, submission_id, "
            "payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (period_start, period_end, submission_id, payload, _now()),
        )
        return inserted > 0

    async def outbox_entries(self, status: str | None = None) -> list[OutboxEntry]:
        """Outbox entries, oldest period first, optionally of one status."""
        sql = (
            "SELECT period_start, period_end, submission_id, payload, status, attempts, "
            "next_attempt_at, last_error, created_at, sent_at FROM usage_outbox"
        )
        params: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        async with self.db.execute(sql + " ORDER BY period_start", params) as cursor:
            rows = await cursor.fetchall()
        return [OutboxEntry(*row) for row in rows]

    async def outbox_update(
        self,
        period_start: str,
        *,
        status: str,
        attempts: int,
        next_attempt_at: int = 0,
        last_error: str | None = None,
        sent_at: int | None = None,
    ) -> None:
        """Record the outcome of a delivery attempt."""
        await self._write(
            "UPDATE usage_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_error = ?, sent_at = ? WHERE period_start = ?",
            (status, attempts, next_attempt_at, last_error, sent_at, period_start),
        )

    async def outbox_clear(self, status: str | None = None) -> int:
        """Drop outbox entries (all, or those of one status)."""
        if status is None:
            return await self._write("DELETE FROM usage_outbox")
        return await self._write("DELETE FROM usage_outbox WHERE status = ?", (status,))

    async def outbox_prune(self, sent_before: int) -> int:
        """Forget delivered entries sent before a unix time (pending ones always stay)."""
        return await self._write(
            "DELETE FROM usage_outbox WHERE status = 'sent' AND sent_at < ?", (sent_before,)
        )

    # --- everything --------------------------------------------------------------------------

    async def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every stored row, readable (interned ids resolved), for the user's export."""
        queries = {
            "usage_settings": "SELECT key, value, updated_at FROM usage_settings ORDER BY key",
            "usage_aggregates": (
                "SELECT a.day, s.event_type, s.dimension, a.count FROM usage_aggregates a "
                "JOIN usage_series s ON s.id = a.series ORDER BY a.day, s.event_type, s.dimension"
            ),
            "usage_outbox": "SELECT * FROM usage_outbox ORDER BY period_start",
            "usage_events": (
                "SELECT e.id, e.ts, k.event_type, k.metadata, e.submitted FROM usage_events e "
                "JOIN usage_kinds k ON k.id = e.kind ORDER BY e.id"
            ),
            # The lookup tables too, whole: whatever the file holds, the export shows.
            "usage_kinds": "SELECT id, event_type, metadata FROM usage_kinds ORDER BY id",
            "usage_series": "SELECT id, event_type, dimension FROM usage_series ORDER BY id",
        }
        result: dict[str, list[dict[str, Any]]] = {}
        for table, sql in queries.items():
            async with self.db.execute(sql) as cursor:
                names = [d[0] for d in cursor.description]
                rows = await cursor.fetchall()
            result[table] = [dict(zip(names, row, strict=True)) for row in rows]
        for row in result["usage_aggregates"]:
            row["day"] = day_from_number(row["day"]).isoformat()
        return result

    async def delete_all(self, keep: Mapping[str, Any] | None = None) -> None:
        """Forget everything: events, rollups, settings (so the installation id too), outbox.

        `keep`: settings written back in the same transaction (a deletion request the server
        has not confirmed yet).
        """
        async with self._transaction() as db:
            for table in (
                "usage_events",
                "usage_kinds",
                "usage_aggregates",
                "usage_series",
                "usage_settings",
                "usage_outbox",
            ):
                await db.execute(f"DELETE FROM {table}")
            await _put_settings(db, keep or {})
            self._clear_caches()
        # secure_delete has overwritten the deleted rows in their pages; the write-ahead log
        # still holds the old page images until it is checkpointed and truncated. VACUUM gives
        # the freed pages back. Each waits for readers of the shared connection to finish.
        for sql in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
            await self._write_when_idle(sql)

    async def _write_when_idle(self, sql: str) -> None:
        """A statement that needs no other statement in progress: retried for up to a second
        while a reader of the shared connection is busy, then left for the next time."""
        for _ in range(20):
            try:
                await self._write(sql)
                return
            except sqlite3.OperationalError:
                await asyncio.sleep(0.05)
        _LOGGER.info("usage store busy: %s left for later", sql)
