"""The local SQLite store (aiosqlite, WAL): migrations, events, daily rollups, settings, outbox."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import aiosqlite

from .models import UsageEvent

_LOGGER = logging.getLogger(__name__)

UPTIME_KEY: Final = "_uptime_seconds"


class StoreError(Exception):
    """The store cannot be used (for example: it was written by a newer version)."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step with its way back."""

    version: int
    up: str
    down: str


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        """
        CREATE TABLE usage_events (
            id INTEGER PRIMARY KEY,
            event_type TEXT NOT NULL,
            ts INTEGER NOT NULL,
            day TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            submitted INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX ix_usage_events_ts ON usage_events (ts);
        CREATE INDEX ix_usage_events_type_ts ON usage_events (event_type, ts);
        CREATE TABLE usage_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE usage_aggregates (
            day TEXT NOT NULL,
            event_type TEXT NOT NULL,
            dimension TEXT NOT NULL DEFAULT '',
            count INTEGER NOT NULL,
            PRIMARY KEY (day, event_type, dimension)
        ) WITHOUT ROWID;
        """,
        """
        DROP TABLE usage_aggregates;
        DROP TABLE usage_settings;
        DROP TABLE usage_events;
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


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


class UsageStore:
    """Repository over one SQLite file; every method is a coroutine, nothing blocks the loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None

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

    async def open(self, *, target_version: int = SCHEMA_VERSION) -> None:
        """Open (creating if needed) and migrate to `target_version`."""
        if self._db is not None:
            return
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: transactions are opened explicitly where statements belong together.
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a killed process.
            await db.execute("PRAGMA synchronous=NORMAL")
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
        if target_version >= current:
            steps = [(m.version, m.up) for m in MIGRATIONS if current < m.version <= target_version]
        else:
            steps = [
                (m.version - 1, m.down)
                for m in reversed(MIGRATIONS)
                if target_version < m.version <= current
            ]
        for version, script in steps:
            await self.db.executescript(
                f"BEGIN; {script} PRAGMA user_version = {int(version)}; COMMIT;"
            )
            _LOGGER.debug("usage store %s migrated to schema %s", self.path, version)

    # --- events ------------------------------------------------------------------------------

    async def insert_events(self, rows: Sequence[EventRow]) -> int:
        """Write events and their daily rollups in one transaction; returns how many."""
        if not rows:
            return 0
        rollup: Counter[tuple[str, str, str]] = Counter()
        values = []
        for row in rows:
            day = _day(row.ts)
            values.append((row.event_type, int(row.ts), day, json.dumps(row.metadata)))
            rollup[(day, row.event_type, "")] += 1
            if row.dimension:
                rollup[(day, row.event_type, row.dimension)] += 1
        db = self.db
        await db.execute("BEGIN")
        try:
            await db.executemany(
                "INSERT INTO usage_events (event_type, ts, day, metadata) VALUES (?, ?, ?, ?)",
                values,
            )
            await self._add_rollups(rollup.items())
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return len(values)

    async def _add_rollups(self, items: Iterable[tuple[tuple[str, str, str], int]]) -> None:
        await self.db.executemany(
            "INSERT INTO usage_aggregates (day, event_type, dimension, count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (day, event_type, dimension) DO UPDATE SET count = count + excluded.count",
            [(day, etype, dim, n) for (day, etype, dim), n in items],
        )

    async def add_uptime(self, day: date, seconds: int) -> None:
        """Account running time to a day (uptime is reported in whole hours only)."""
        if seconds <= 0:
            return
        await self._add_rollups([((day.isoformat(), UPTIME_KEY, ""), seconds)])
        await self.db.commit()

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
            clauses.append("event_type = ?")
            params.append(event_type)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(int(since.timestamp()))
        if until is not None:
            clauses.append("ts < ?")
            params.append(int(until.timestamp()))
        if submitted is not None:
            clauses.append("submitted = ?")
            params.append(int(submitted))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT id, event_type, ts, metadata, submitted FROM usage_events {where} "
        sql += "ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?"
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
        async with self.db.execute("SELECT COUNT(*), MIN(ts) FROM usage_events") as cursor:
            row = await cursor.fetchone()
        if not row or not row[0]:
            return 0, None
        return int(row[0]), datetime.fromtimestamp(row[1], UTC)

    async def mark_submitted(self, until: datetime) -> int:
        """Flag raw events before `until` as covered by a delivered report."""
        cursor = await self.db.execute(
            "UPDATE usage_events SET submitted = 1 WHERE submitted = 0 AND ts < ?",
            (int(until.timestamp()),),
        )
        await self.db.commit()
        return cursor.rowcount

    async def prune_events(self, before: datetime) -> int:
        """Delete raw events older than `before`; their daily rollups stay."""
        cursor = await self.db.execute(
            "DELETE FROM usage_events WHERE ts < ?", (int(before.timestamp()),)
        )
        await self.db.commit()
        return cursor.rowcount

    async def prune_rollups(self, before: date) -> int:
        """Delete daily rollups older than `before`."""
        cursor = await self.db.execute(
            "DELETE FROM usage_aggregates WHERE day < ?", (before.isoformat(),)
        )
        await self.db.commit()
        return cursor.rowcount

    async def rollups(self, first: date, end: date) -> list[tuple[str, str, str, int]]:
        """Daily counts (day, event_type, dimension, count) for first <= day < end."""
        async with self.db.execute(
            "SELECT day, event_type, dimension, count FROM usage_aggregates "
            "WHERE day >= ? AND day < ? ORDER BY day",
            (first.isoformat(), end.isoformat()),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    async def rollup_totals(self, first: date, end: date) -> list[tuple[str, str, int]]:
        """Counts (event_type, dimension, count) summed over first <= day < end."""
        async with self.db.execute(
            "SELECT event_type, dimension, SUM(count) FROM usage_aggregates "
            "WHERE day >= ? AND day < ? GROUP BY event_type, dimension",
            (first.isoformat(), end.isoformat()),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    async def first_day(self) -> date | None:
        """The earliest day any rollup covers."""
        async with self.db.execute("SELECT MIN(day) FROM usage_aggregates") as cursor:
            row = await cursor.fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

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
        now = _now()
        db = self.db
        await db.execute("BEGIN")
        try:
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
            await db.commit()
        except BaseException:
            await db.rollback()
            raise

    async def set_setting(self, key: str, value: Any) -> None:
        """Write one setting (None deletes it)."""
        await self.set_settings({key: value})

    # --- outbox ------------------------------------------------------------------------------

    async def outbox_put(
        self, period_start: str, period_end: str, submission_id: str, payload: str
    ) -> bool:
        """Queue a closed period's payload once; returns False when it was already queued."""
        cursor = await self.db.execute(
            "INSERT OR IGNORE INTO usage_outbox (period_start, period_end, submission_id, "
            "payload, created_at) VALUES (?, ?, ?, ?, ?)",
            (period_start, period_end, submission_id, payload, _now()),
        )
        await self.db.commit()
        return cursor.rowcount > 0

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
        await self.db.execute(
            "UPDATE usage_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_error = ?, sent_at = ? WHERE period_start = ?",
            (status, attempts, next_attempt_at, last_error, sent_at, period_start),
        )
        await self.db.commit()

    async def outbox_clear(self, status: str | None = None) -> int:
        """Drop outbox entries (all, or those of one status)."""
        if status is None:
            cursor = await self.db.execute("DELETE FROM usage_outbox")
        else:
            cursor = await self.db.execute("DELETE FROM usage_outbox WHERE status = ?", (status,))
        await self.db.commit()
        return cursor.rowcount

    # --- everything --------------------------------------------------------------------------

    async def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, for the user's export."""
        result: dict[str, list[dict[str, Any]]] = {}
        for table in ("usage_settings", "usage_aggregates", "usage_outbox", "usage_events"):
            async with self.db.execute(f"SELECT * FROM {table}") as cursor:
                names = [d[0] for d in cursor.description]
                rows = await cursor.fetchall()
            result[table] = [dict(zip(names, row, strict=True)) for row in rows]
        return result

    async def delete_all(self) -> None:
        """Forget everything: events, rollups, settings (so the installation id too), outbox."""
        await self.db.executescript(
            "BEGIN; DELETE FROM usage_events; DELETE FROM usage_aggregates; "
            "DELETE FROM usage_settings; DELETE FROM usage_outbox; COMMIT;"
        )
        await self.db.execute("VACUUM")
