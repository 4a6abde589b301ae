"""Backend-neutral SQL repository: group-commit writes, deletion, purge and rollup reads."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Generator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from printernizer_usage_core.models import AggregatedStats
from pydantic import ValidationError

from ..rollups import MULTI_VALUED, contributions, period_week, week_of
from .base import (
    Contribution,
    DailyActivity,
    PurgeResult,
    RollupRow,
    SubmissionRecord,
    WeeklyRow,
    WriteResult,
)

_LOGGER = logging.getLogger(__name__)
Row = Sequence[Any]
Delta = dict[tuple[int, str, str], list[int]]


@dataclass(frozen=True, slots=True)
class Fetch:
    """A query; the work receives its rows."""

    sql: str
    args: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Execute:
    """A statement; the work receives the rows affected."""

    sql: str
    args: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Many:
    """A statement run once per row; the work receives None."""

    sql: str
    rows: Sequence[Sequence[Any]]


# Write logic is written once, as a generator of statements (SQL with `?` placeholders) that
# is sent each statement's result. A driver decides how to run it: SQLite runs the statements
# on the event loop and only COMMIT on its writer thread; PostgreSQL sends consecutive writes
# together as one statement.
type Statement = Fetch | Execute | Many
type Work[T] = Generator[Statement, Any, T]


class Tx(Protocol):
    """What a driver offers for reads (SQL uses `?` placeholders); writes are Work."""

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Rows of a query."""


def apply_migrations(
    migrations: Sequence[tuple[int, Sequence[str]]], applied_day: int
) -> Work[None]:
    """Every migration the database has not recorded yet, in order (one transaction)."""
    yield Execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_day INTEGER NOT NULL)"
    )
    recorded = yield Fetch("SELECT version FROM schema_migrations")
    done = {int(r[0]) for r in recorded}
    for version, statements in migrations:
        if version in done:
            continue
        for statement in statements:
            yield Execute(statement)
        yield Execute(
            "INSERT INTO schema_migrations (version, applied_day) VALUES (?, ?)",
            [version, applied_day],
        )


def _add(delta: Delta, bucket: int, contrib: Sequence[Contribution], sign: int) -> None:
    for dim, key, installations, total in contrib:
        cell = delta[(bucket, dim, key)]
        cell[0] += sign * installations
        cell[1] += sign * total


def _delta_rows(delta: Delta) -> list[tuple[int, str, str, int, int]]:
    return [(b, d, k, v[0], v[1]) for (b, d, k), v in delta.items() if v[0] or v[1]]


def _new_delta() -> Delta:
    return defaultdict(lambda: [0, 0])


def _stored_contributions(text: str) -> list[Contribution]:
    """The contributions of installation_latest.contrib (stored as JSON)."""
    return [tuple(c) for c in orjson.loads(text)]


# (period_start_day, period_end_day, contributions) of an installation's latest report.
type _Latest = tuple[int, int, list[Contribution]]


def _multi_keys(latest: _Latest | None) -> set[tuple[str, str]]:
    """The (dim, key) pairs of multi-valued dimensions in a latest report (latest_keys rows)."""
    if latest is None:
        return set()
    return {(dim, key) for dim, key, _, _ in latest[2] if dim in MULTI_VALUED}


@dataclass(slots=True)
class _BatchState:
    """What the database holds about a batch's installations before it is written."""

    attempts: dict[str, int] = field(default_factory=dict)
    seen: dict[tuple[str, int], str] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    latest: dict[str, _Latest] = field(default_factory=dict)


class SqlRepository:
    """Repository logic shared by SQLite and PostgreSQL; drivers supply transactions."""

    backend = "sql"

    # --- driver hooks ------------------------------------------------------------------------

    async def _run_write[T](self, work: Work[T]) -> T:
        """Run `work` as one serialised write transaction (one writer across processes)."""
        raise NotImplementedError

    def _read(self) -> AbstractAsyncContextManager[Tx]:
        """A connection for reads that never sees uncommitted writes."""
        raise NotImplementedError

    def _in(self, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A membership test fragment (after the column name) and its arguments."""
        raise NotImplementedError

    # --- writes ------------------------------------------------------------------------------

    async def write_batch(
        self, records: list[SubmissionRecord], *, rate_limit_per_hour: int, now_hour: int
    ) -> list[WriteResult]:
        """Store many submissions in one transaction (see Repository.write_batch)."""
        if not records:
            return []
        return await self._run_write(self._write(records, rate_limit_per_hour, now_hour))

    def _write(
        self, records: list[SubmissionRecord], limit: int, now_hour: int
    ) -> Work[list[WriteResult]]:
        ids = sorted({r.installation_id for r in records})
        state = yield from self._read_state(
            ids, sorted({r.period_start_day for r in records}), now_hour
        )
        attempts = state.attempts
        seen = state.seen
        results: list[WriteResult] = []
        new: list[SubmissionRecord] = []
        counted: set[str] = set()
        for rec in records:
            key = (rec.installation_id, rec.period_start_day)
            if key in seen:
                # A retry is answered as the duplicate it is, before (and without) counting
                # against the limit: a client retrying one report is never told to wait.
                results.append(WriteResult("duplicate", seen[key]))
                continue
            count = attempts.get(rec.installation_id, 0) + 1
            attempts[rec.installation_id] = count
            counted.add(rec.installation_id)
            if count > limit:
                results.append(WriteResult("rate_limited", rec.submission_id))
                continue
            seen[key] = rec.submission_id
            new.append(rec)
            results.append(WriteResult("accepted", rec.submission_id))
        if counted:
            yield Many(
                "INSERT INTO rate_limits (installation_id, hour, attempts) VALUES (?, ?, ?) "
                "ON CONFLICT (installation_id, hour) DO UPDATE SET attempts = excluded.attempts",
                [(iid, now_hour, attempts[iid]) for iid in sorted(counted)],
            )
        if new:
            yield from self._store_new(new, state)
        return results

    def _read_state(self, ids: list[str], starts: list[int], now_hour: int) -> Work[_BatchState]:
        """Everything a batch's writes depend on, in one query (one round trip)."""
        frag, args = self._in(ids)
        sfrag, sargs = self._in(starts)
        rows = yield Fetch(
            # kind, installation, two numbers, one text: the four reads share one shape.
            f"SELECT 'rate', installation_id, attempts, 0, CAST(NULL AS TEXT) FROM rate_limits "
            f"WHERE hour = ? AND installation_id {frag} "
            f"UNION ALL SELECT 'seen', installation_id, period_start_day, 0, submission_id "
            f"FROM submissions WHERE installation_id {frag} AND period_start_day {sfrag} "
            f"UNION ALL SELECT 'known', installation_id, 0, 0, CAST(NULL AS TEXT) "
            f"FROM installations WHERE installation_id {frag} "
            f"UNION ALL SELECT 'latest', installation_id, period_start_day, period_end_day, "
            f"contrib FROM installation_latest WHERE installation_id {frag}",
            [now_hour, *args, *args, *sargs, *args, *args],
        )
        state = _BatchState()
        for kind, iid, first, second, text in rows:
            if kind == "rate":
                state.attempts[iid] = int(first)
            elif kind == "seen":
                state.seen[(iid, int(first))] = text
            elif kind == "known":
                state.known.add(iid)
            else:
                state.latest[iid] = (int(first), int(second), _stored_contributions(text))
        return state

    def _store_new(self, new: list[SubmissionRecord], state: _BatchState) -> Work[None]:
        yield Many(
            "INSERT INTO submissions (installation_id, period_start_day, period_end_day, "
            "submission_id, received_day, schema_version, app_version, deployment_mode, "
            "country_code, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.installation_id,
                    r.period_start_day,
                    r.period_end_day,
                    r.submission_id,
                    r.received_day,
                    r.schema_version,
                    r.app_version,
                    r.deployment_mode,
                    r.country_code,
                    r.payload,
                )
                for r in new
            ],
        )
        known = state.known
        installs: dict[str, tuple[str | None, int, int]] = {}
        daily: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for r in new:
            prev = installs.get(r.installation_id)
            if prev is None:
                installs[r.installation_id] = (r.deletion_key_hash, r.received_day, r.received_day)
                if r.installation_id not in known:
                    daily[r.received_day][1] += 1
            else:
                installs[r.installation_id] = (
                    prev[0],  # only the submission that creates the installation sets it
                    min(prev[1], r.received_day),
                    max(prev[2], r.received_day),
                )
            daily[r.received_day][0] += 1
        # The deletion hash is the one of the submission that created the installation (none
        # for a 1.0 client), never added or replaced later: whoever learns an installation id
        # could otherwise register their own secret and erase its data. A later report that
        # carries a hash is stored; its hash is ignored (docs/AGGREGATION.md).
        yield Many(
            "INSERT INTO installations (installation_id, deletion_key_hash, first_day, last_day) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (installation_id) DO UPDATE SET "
            "last_day = CASE WHEN excluded.last_day > "
            "installations.last_day THEN excluded.last_day ELSE installations.last_day END",
            [(iid, h, first, last) for iid, (h, first, last) in installs.items()],
        )
        yield from self._update_latest(new, state.latest)
        weekly = _new_delta()
        for r in new:
            _add(weekly, period_week(r.period_end_day), r.contributions, 1)
        yield from self._apply_delta("weekly_rollup", "week", weekly)
        yield Many(
            "INSERT INTO daily_activity (day, submissions, new_installations) VALUES (?, ?, ?) "
            "ON CONFLICT (day) DO UPDATE SET "
            "submissions = daily_activity.submissions + excluded.submissions, "
            "new_installations = daily_activity.new_installations + excluded.new_installations",
            [(day, v[0], v[1]) for day, v in sorted(daily.items())],
        )

    def _update_latest(self, new: list[SubmissionRecord], latest: dict[str, _Latest]) -> Work[None]:
        current = dict(latest)
        delta = _new_delta()
        changed: dict[str, SubmissionRecord] = {}
        for r in new:
            old = current.get(r.installation_id)
            if old is not None and (old[1], old[0]) >= (r.period_end_day, r.period_start_day):
                continue  # a back-filled older period never replaces the latest report
            if old is not None:
                _add(delta, old[1], old[2], -1)
            _add(delta, r.period_end_day, r.contributions, 1)
            current[r.installation_id] = (
                r.period_start_day,
                r.period_end_day,
                list(r.contributions),
            )
            changed[r.installation_id] = r
        yield Many(
            "INSERT INTO installation_latest (installation_id, period_start_day, period_end_day, "
            "contrib) VALUES (?, ?, ?, ?) ON CONFLICT (installation_id) DO UPDATE SET "
            "period_start_day = excluded.period_start_day, "
            "period_end_day = excluded.period_end_day, contrib = excluded.contrib",
            [
                (iid, r.period_start_day, r.period_end_day, orjson.dumps(r.contributions).decode())
                for iid, r in changed.items()
            ],
        )
        yield from self._apply_delta("latest_rollup", "day", delta)
        yield from self._update_latest_keys(
            {iid: (latest.get(iid), current[iid]) for iid in changed}
        )

    def _update_latest_keys(self, changes: dict[str, tuple[_Latest | None, _Latest]]) -> Work[None]:
        """Keep latest_keys equal to the multi-valued keys of each latest report: only the keys
        that changed are written (an installation's printer types and features rarely do)."""
        gone: list[tuple[str, str, str]] = []
        added: list[tuple[str, str, str]] = []
        for iid, (old, new) in changes.items():
            before, after = _multi_keys(old), _multi_keys(new)
            gone += [(dim, key, iid) for dim, key in sorted(before - after)]
            added += [(dim, key, iid) for dim, key in sorted(after - before)]
        if gone:
            yield Many(
                "DELETE FROM latest_keys WHERE dim = ? AND key = ? AND installation_id = ?", gone
            )
        if added:
            yield Many(
                "INSERT INTO latest_keys (dim, key, installation_id) VALUES (?, ?, ?) "
                "ON CONFLICT (dim, key, installation_id) DO NOTHING",
                added,
            )

    def _apply_delta(self, table: str, bucket: str, delta: Delta) -> Work[None]:
        rows = _delta_rows(delta)
        if rows:
            yield Many(
                f"INSERT INTO {table} ({bucket}, dim, key, installations, total) "
                f"VALUES (?, ?, ?, ?, ?) ON CONFLICT ({bucket}, dim, key) DO UPDATE SET "
                f"installations = {table}.installations + excluded.installations, "
                f"total = {table}.total + excluded.total",
                rows,
            )

    def _prune_zero_rows(
        self, table: str, bucket: str, keys: set[tuple[int, str, str]]
    ) -> Work[None]:
        """Delete the rows among `keys` that count nothing any more (installations and total 0).

        For deletion: an erased installation leaves no row naming its keys, not even one that
        counts zero. Runs after the rollup's upsert on both backends (a DELETE is never folded
        into PostgreSQL's combined INSERT, which would see the rows as they were before).
        The hot path's latest-report swaps do not prune (they keep PostgreSQL's single
        combined write); the hourly purge removes the zero rows they leave.
        """
        if keys:
            yield Many(
                f"DELETE FROM {table} WHERE {bucket} = ? AND dim = ? AND key = ? "
                "AND installations = 0 AND total = 0",
                sorted(keys),
            )

    async def stored_submission_id(self, installation_id: str, period_start_day: int) -> str | None:
        """The submission id stored for one installation's period, if any."""
        async with self._read() as tx:
            rows = await tx.fetch(
                "SELECT submission_id FROM submissions "
                "WHERE installation_id = ? AND period_start_day = ?",
                [installation_id, period_start_day],
            )
        return str(rows[0][0]) if rows else None

    async def deletion_key_hash(self, installation_id: str) -> tuple[bool, str | None]:
        """(installation known?, stored deletion key hash)."""
        async with self._read() as tx:
            rows = await tx.fetch(
                "SELECT deletion_key_hash FROM installations WHERE installation_id = ?",
                [installation_id],
            )
        if not rows:
            return False, None
        return True, rows[0][0]

    async def delete_installation(self, installation_id: str) -> int:
        """Delete every row of one installation and take its share out of the rollups."""
        return await self._run_write(self._delete(installation_id))

    def _delete(self, installation_id: str) -> Work[int]:
        latest = yield Fetch(
            "SELECT period_end_day, contrib FROM installation_latest WHERE installation_id = ?",
            [installation_id],
        )
        delta = _new_delta()
        for end_day, contrib in latest:
            _add(delta, int(end_day), _stored_contributions(contrib), -1)
        rows = yield Fetch(
            "SELECT period_end_day, received_day, payload FROM submissions "
            "WHERE installation_id = ?",
            [installation_id],
        )
        weekly = _new_delta()
        # Every latest_rollup row this installation's reports ever added to: each of them was
        # its latest report once, and replacing it left the row at zero when no one else has
        # that key (an error name, a version only it had).
        stale = set(delta)
        daily: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for end_day, received_day, payload in rows:
            daily[int(received_day)][0] -= 1
            try:
                stats = AggregatedStats.model_validate_json(payload)
            except ValidationError:
                # A payload an older schema accepted: the rows go anyway, only this
                # report's share of the weekly trend stays behind (anonymous counts).
                _LOGGER.warning("a stored report no longer parses; rollup left as is")
                continue
            contrib = contributions(stats)
            _add(weekly, period_week(int(end_day)), contrib, -1)
            stale.update((int(end_day), dim, key) for dim, key, _, _ in contrib)
        firsts = yield Fetch(
            "SELECT first_day FROM installations WHERE installation_id = ?", [installation_id]
        )
        for (first_day,) in firsts:
            daily[int(first_day)][1] -= 1
        yield from self._apply_delta("latest_rollup", "day", delta)
        yield from self._prune_zero_rows("latest_rollup", "day", stale)
        yield from self._apply_delta("weekly_rollup", "week", weekly)
        yield from self._prune_zero_rows("weekly_rollup", "week", set(weekly))
        yield Many(
            "UPDATE daily_activity SET submissions = submissions + ?, "
            "new_installations = new_installations + ? WHERE day = ?",
            [(v[0], v[1], day) for day, v in daily.items()],
        )
        deleted = yield Execute(
            "DELETE FROM submissions WHERE installation_id = ?", [installation_id]
        )
        for table in ("latest_keys", "installation_latest", "installations", "rate_limits"):
            yield Execute(f"DELETE FROM {table} WHERE installation_id = ?", [installation_id])
        return deleted

    async def purge(self, *, before_day: int, now_hour: int) -> PurgeResult:
        """Retention: drop submissions (and rollups) older than `before_day`."""
        return await self._run_write(self._purge(before_day, now_hour))

    def _purge(self, before_day: int, now_hour: int) -> Work[PurgeResult]:
        submissions = yield Execute(
            "DELETE FROM submissions WHERE period_end_day < ?", [before_day]
        )
        yield Execute(
            "DELETE FROM latest_keys WHERE installation_id IN (SELECT installation_id "
            "FROM installation_latest WHERE period_end_day < ?)",
            [before_day],
        )
        yield Execute("DELETE FROM installation_latest WHERE period_end_day < ?", [before_day])
        yield Execute("DELETE FROM latest_rollup WHERE day < ?", [before_day])
        yield Execute("DELETE FROM weekly_rollup WHERE week < ?", [week_of(before_day)])
        yield Execute("DELETE FROM daily_activity WHERE day < ?", [before_day])
        yield Execute("DELETE FROM latest_rollup WHERE installations = 0 AND total = 0", [])
        yield Execute("DELETE FROM weekly_rollup WHERE installations = 0 AND total = 0", [])
        installations = yield Execute(
            # An installation whose every report is gone keeps nothing (not even its hash).
            "DELETE FROM installations WHERE NOT EXISTS (SELECT 1 FROM "
            "submissions s WHERE s.installation_id = installations.installation_id)",
            [],
        )
        # Rate windows are only needed for the current hour.
        yield Execute("DELETE FROM rate_limits WHERE hour < ?", [now_hour])
        return PurgeResult(submissions=submissions, installations=installations)

    # --- reads -------------------------------------------------------------------------------

    async def ping(self) -> None:
        """A real round trip to the database."""
        async with self._read() as tx:
            await tx.fetch("SELECT 1 FROM schema_migrations LIMIT 1")

    async def schema_version(self) -> int:
        """The highest applied migration."""
        async with self._read() as tx:
            rows = await tx.fetch("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    async def latest_rollup(self, since_day: int) -> list[RollupRow]:
        """Summed buckets of each installation's latest report ending on/after `since_day`."""
        async with self._read() as tx:
            rows = await tx.fetch(
                "SELECT dim, key, SUM(installations), SUM(total) FROM latest_rollup "
                "WHERE day >= ? GROUP BY dim, key",
                [since_day],
            )
        return [RollupRow(r[0], r[1], int(r[2]), int(r[3])) for r in rows if r[2] or r[3]]

    async def weekly_rollup(self, since_week: int, dims: tuple[str, ...]) -> list[WeeklyRow]:
        """Per-week buckets of some dimensions."""
        frag, args = self._in(list(dims))
        async with self._read() as tx:
            rows = await tx.fetch(
                "SELECT week, dim, key, installations, total FROM weekly_rollup "
                f"WHERE week >= ? AND dim {frag} ORDER BY week",
                [since_week, *args],
            )
        return [WeeklyRow(int(r[0]), r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    async def daily_activity(self, since_day: int) -> list[DailyActivity]:
        """Per-day submission and new-installation counts."""
        async with self._read() as tx:
            rows = await tx.fetch(
                "SELECT day, submissions, new_installations FROM daily_activity "
                "WHERE day >= ? ORDER BY day",
                [since_day],
            )
        return [DailyActivity(int(r[0]), int(r[1]), int(r[2])) for r in rows]

    async def totals(self) -> tuple[int, int]:
        """(installations known, submissions stored) without scanning the submissions."""
        async with self._read() as tx:
            inst = await tx.fetch("SELECT COUNT(*) FROM installations")
            subs = await tx.fetch("SELECT COALESCE(SUM(submissions), 0) FROM daily_activity")
        return int(inst[0][0]), int(subs[0][0])

    async def count_submissions(self, installation_id: str | None = None) -> int:
        """Stored submissions, of one installation or all."""
        async with self._read() as tx:
            if installation_id is None:
                rows = await tx.fetch("SELECT COUNT(*) FROM submissions")
            else:
                rows = await tx.fetch(
                    "SELECT COUNT(*) FROM submissions WHERE installation_id = ?",
                    [installation_id],
                )
        return int(rows[0][0])

    async def submission_ids(self) -> set[str]:
        """Every stored submission id."""
        async with self._read() as tx:
            rows = await tx.fetch("SELECT submission_id FROM submissions")
        return {r[0] for r in rows}
