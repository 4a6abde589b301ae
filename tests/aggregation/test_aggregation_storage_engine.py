"""The storage engines under stress: big batches, lock waits, checkpoints, reconnects.

Real SQLite files and the throwaway PostgreSQL server of the fixtures; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from agg_payloads import payload
from conftest import PgServer
from printernizer_usage_core.models import PrinterType

from aggregation.ingest import GroupCommitWriter, WriterStopped
from aggregation.rollups import hour_number, period_week, today
from aggregation.storage import open_repository
from aggregation.storage import sqlite as sqlite_storage
from aggregation.storage.base import Repository, StorageError, SubmissionRecord
from aggregation.storage.postgres import PostgresRepository, combine_inserts
from aggregation.storage.sql import Many
from aggregation.storage.sqlite import SqliteRepository
from aggregation.validation import to_record, validate

LIMIT = 1000
COUNTRIES = ("DE", "AT", "FR", "US", "JP")
MODES = ("docker", "homeassistant", "pi", "standalone")


# --- helpers ---------------------------------------------------------------------------------


def make_record(index: int = 0, *, received_day: int | None = None) -> SubmissionRecord:
    """A validated submission of a new installation, as the intake builds it."""
    body = payload(
        country=COUNTRIES[index % len(COUNTRIES)],
        mode=MODES[index % len(MODES)],
        app_version=f"2.{index % 3}.0",
        printers={PrinterType.BAMBU_LAB: 1 + index % 4, PrinterType.KLIPPER: index % 2},
        errors={"TimeoutError": index % 3} if index % 3 else None,
        # A column mixing NULLs and strings (deletion_key_hash).
        secret=f"secret-{index}" if index % 2 else None,
        job_count=index,
    )
    return to_record(
        validate(body),
        original_schema=str(body["schema_version"]),
        received_day=received_day if received_day is not None else today(),
    )


def make_records(count: int) -> list[SubmissionRecord]:
    return [make_record(i) for i in range(count)]


async def write(repo: Repository, records: list[SubmissionRecord]) -> list[str]:
    """Outcomes of one write_batch."""
    results = await repo.write_batch(records, rate_limit_per_hour=LIMIT, now_hour=hour_number())
    assert [r.submission_id for r in results] == [r.submission_id for r in records]
    return [r.outcome for r in results]


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Any]:
    repo = await open_repository(url)
    try:
        yield repo
    finally:
        await repo.close()


def file_size(path: Path) -> int:
    return path.stat().st_size


def sqlite_url(tmp_path: Path, name: str = "engine.db") -> tuple[str, Path]:
    path = tmp_path / name
    return f"sqlite:///{path}", path


class LockHolder:
    """A plain sqlite3 connection in a thread holding the file's write lock for a while."""

    def __init__(
        self, path: Path, hold: float, statements: Sequence[tuple[str, tuple[Any, ...]]] = ()
    ) -> None:
        self._path = path
        self._hold = hold
        self._statements = list(statements)
        self.locked = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lock-holder", daemon=True)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=5)
            try:
                conn.execute("BEGIN IMMEDIATE")
                for sql, args in self._statements:
                    conn.execute(sql, args)
                self.locked.set()
                time.sleep(self._hold)
                conn.execute("COMMIT")
            finally:
                conn.close()
        except BaseException as err:
            self.error = err
            self.locked.set()

    async def start(self) -> None:
        self._thread.start()
        assert await asyncio.to_thread(self.locked.wait, 5)
        assert self.error is None

    async def join(self) -> None:
        await asyncio.to_thread(self._thread.join, 10)
        assert not self._thread.is_alive()
        assert self.error is None


async def ticking_while[T](awaitable: Awaitable[T]) -> tuple[T, int, float]:
    """(result, ticks of a 10 ms ticker meanwhile, elapsed seconds)."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        result = await awaitable
    finally:
        task.cancel()
    return result, ticks, loop.time() - started


# --- 1. a big batch on both backends ----------------------------------------------------------


async def test_big_batch_then_all_duplicates(database_url: str, backend: str) -> None:
    records = make_records(300)
    assert len({r.installation_id for r in records}) == 300
    async with opened(database_url) as repo:
        assert repo.backend == backend
        assert await write(repo, records) == ["accepted"] * 300
        assert await repo.count_submissions() == 300
        assert await repo.submission_ids() == {r.submission_id for r in records}
        assert await repo.totals() == (300, 300)
        day = today()
        activity = await repo.daily_activity(day - 1)
        assert [(a.day, a.submissions, a.new_installations) for a in activity] == [(day, 300, 300)]

        expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for record in records:
            for dim, key, installations, total in record.contributions:
                expected[(dim, key)][0] += installations
                expected[(dim, key)][1] += total
        since = min(r.period_end_day for r in records) - 1
        latest = {
            (r.dim, r.key): [r.installations, r.total] for r in await repo.latest_rollup(since)
        }
        assert latest[("all", "")] == [300, 0]
        assert latest == dict(expected)
        weeks = {period_week(r.period_end_day) for r in records}
        weekly = await repo.weekly_rollup(min(weeks), ("all", "country", "printers"))
        summed: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for row in weekly:
            summed[(row.dim, row.key)][0] += row.installations
            summed[(row.dim, row.key)][1] += row.total
        assert summed[("all", "")] == [300, 0]
        assert summed[("printers", "")] == expected[("printers", "")]
        for country in COUNTRIES:
            assert summed[("country", country)] == expected[("country", country)]
        # A deletion hash is stored exactly where one was sent (NULLs mixed with text).
        for record in records[:4]:
            assert await repo.deletion_key_hash(record.installation_id) == (
                True,
                record.deletion_key_hash,
            )

        assert await write(repo, records) == ["duplicate"] * 300
        assert await repo.count_submissions() == 300
        assert await repo.totals() == (300, 300)
        again = {
            (r.dim, r.key): [r.installations, r.total] for r in await repo.latest_rollup(since)
        }
        assert again == latest


async def test_batches_of_every_size_see_what_is_stored(database_url: str) -> None:
    """Batch reads pad their IN lists (SQLite): each size still finds exactly what is stored."""
    records = make_records(60)
    async with opened(database_url) as repo:
        stored: list[SubmissionRecord] = []
        start = 0
        for size in (1, 2, 3, 5, 9, 17, 23):
            new = records[start : start + size]
            start += size
            # Every stored report again, mixed in with new ones: the duplicates are found.
            again = stored[-size:]
            outcomes = await write(repo, again + new)
            assert outcomes == ["duplicate"] * len(again) + ["accepted"] * size
            stored += new
        assert await repo.count_submissions() == len(stored) == 60
        assert await repo.totals() == (60, 60)


def test_padded_lists_come_in_few_sizes() -> None:
    sizes = {len(sqlite_storage.padded(list(range(n)))) for n in range(1, 201)}
    assert sizes == {1, 2, 4, 8, 16, *range(32, 209, 16)}
    assert sqlite_storage.padded([]) == []
    assert sqlite_storage.padded(["a", "b", "c"]) == ["a", "b", "c", "c"]


# --- 2. SQLite: another process holds the write lock ------------------------------------------


async def test_sqlite_write_waits_for_another_writer_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    url, path = sqlite_url(tmp_path)
    async with opened(url) as repo:
        assert isinstance(repo, SqliteRepository)
        theirs, mine = make_record(0), make_record(1)
        # The other writer stores the same report (another server process got it first).
        row = (theirs.installation_id, theirs.period_start_day, theirs.period_end_day)
        holder = LockHolder(
            path,
            hold=0.3,
            statements=[
                (
                    "INSERT INTO submissions (installation_id, period_start_day, "
                    "period_end_day, submission_id, received_day, schema_version, app_version, "
                    "deployment_mode, country_code, payload) "
                    "VALUES (?, ?, ?, 'their-id', 0, '2.0', '2.0.0', 'docker', 'DE', '{}')",
                    row,
                )
            ],
        )
        await holder.start()
        results, ticks, elapsed = await ticking_while(
            repo.write_batch([theirs, mine], rate_limit_per_hour=LIMIT, now_hour=hour_number())
        )
        await holder.join()
        # The batch read the database only once it held the lock: it sees the other write.
        assert [(r.outcome, r.submission_id) for r in results] == [
            ("duplicate", "their-id"),
            ("accepted", mine.submission_id),
        ]
        assert elapsed >= 0.1  # it did wait for the other connection's COMMIT
        assert ticks >= 5  # ~30 expected: the loop kept running while the lock was polled
        assert await repo.count_submissions() == 2


async def test_sqlite_processes_starting_together_on_a_new_file(tmp_path: Path) -> None:
    # Two server processes (WORKERS=2) open the same new file at once; each repository has
    # its own connection threads, so the two switches to WAL really race. SQLite refused
    # one of them without waiting in about 4 of 10 tries before the switch polled.
    for attempt in range(20):
        url, _ = sqlite_url(tmp_path / str(attempt))
        repos = await asyncio.gather(SqliteRepository.open(url), SqliteRepository.open(url))
        try:
            record = make_record(attempt)
            results = await repos[0].write_batch(
                [record], rate_limit_per_hour=LIMIT, now_hour=hour_number()
            )
            assert results[0].outcome == "accepted"
            assert await repos[1].count_submissions() == 1
        finally:
            for repo in repos:
                await repo.close()


async def test_sqlite_lock_wait_gives_up_then_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_storage, "_LOCK_WAIT_SECONDS", 0.2)
    url, path = sqlite_url(tmp_path)
    async with opened(url) as repo:
        holder = LockHolder(path, hold=1.0)
        await holder.start()
        record = make_record()
        started = time.monotonic()
        with pytest.raises(StorageError):
            await write(repo, [record])
        assert time.monotonic() - started < 0.9  # gave up before the lock was released
        await holder.join()
        # Nothing half-written was left behind, and the writer is usable again.
        assert await repo.count_submissions() == 0
        assert await write(repo, [record]) == ["accepted"]
        assert await write(repo, [make_record(1)]) == ["accepted"]
        assert await repo.count_submissions() == 2


# --- 3. SQLite: background WAL checkpoints ----------------------------------------------------


async def _writer_pragma(repo: SqliteRepository, name: str) -> Any:
    rows = await repo._writer.call(lambda c: c.execute(f"PRAGMA {name}").fetchall())
    return rows[0][0]


async def _grows(path: Path, size: int, within: float) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        now = file_size(path)
        if now > size:
            return now
        await asyncio.sleep(0.02)
    return file_size(path)


async def test_sqlite_background_checkpoint_copies_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_storage, "_CHECKPOINT_SECONDS", 0.05)
    url, path = sqlite_url(tmp_path)
    repo = await open_repository(url)
    assert isinstance(repo, SqliteRepository)
    task = repo._checkpoints
    try:
        assert task is not None
        assert not task.done()
        assert await _writer_pragma(repo, "wal_autocheckpoint") == 0
        assert str(await _writer_pragma(repo, "journal_mode")).lower() == "wal"
        await asyncio.sleep(0.3)  # the migrations reach the main file first
        before = file_size(path)
        assert await write(repo, make_records(200)) == ["accepted"] * 200
        wal = Path(f"{path}-wal")
        assert file_size(wal) > 0
        after = await _grows(path, before, within=3.0)
        assert after > before, "the WAL was never checkpointed into the database file"
        assert not task.done()  # still running: no error escaped the loop
    finally:
        await repo.close()
    assert repo._checkpoints is None
    assert task.cancelled()


async def test_sqlite_without_checkpoint_the_data_stays_in_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control of the test above: the writer itself never checkpoints."""
    monkeypatch.setattr(sqlite_storage, "_CHECKPOINT_SECONDS", 3600)
    url, path = sqlite_url(tmp_path)
    async with opened(url) as repo:
        before = file_size(path)
        assert await write(repo, make_records(200)) == ["accepted"] * 200
        await asyncio.sleep(0.3)
        assert file_size(path) == before
        assert file_size(Path(f"{path}-wal")) > 0
        assert await repo.count_submissions() == 200
    # Closing the last connection folds the WAL in: the data is in the file afterwards.
    async with opened(url) as repo:
        assert await repo.count_submissions() == 200


async def test_sqlite_checkpoints_follow_commits_and_an_idle_server_sleeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint runs after a commit, never on a timer alone: idle stays idle."""
    monkeypatch.setattr(sqlite_storage, "_CHECKPOINT_SECONDS", 0.01)
    runs: list[float] = []
    real_checkpoint = sqlite_storage._checkpoint
    loop = asyncio.get_running_loop()
    checkpointed = asyncio.Event()

    def counted(conn: sqlite3.Connection) -> None:  # the real checkpoint, counted
        real_checkpoint(conn)
        runs.append(time.monotonic())
        loop.call_soon_threadsafe(checkpointed.set)

    monkeypatch.setattr(sqlite_storage, "_checkpoint", counted)

    async def next_checkpoint() -> None:
        await asyncio.wait_for(checkpointed.wait(), timeout=30)
        checkpointed.clear()

    url, _ = sqlite_url(tmp_path)
    async with opened(url) as repo:
        await next_checkpoint()  # the migrations' commit
        await asyncio.sleep(0.3)  # thirty checkpoint intervals without a commit
        assert len(runs) == 1
        assert await write(repo, [make_record(0)]) == ["accepted"]
        await next_checkpoint()
        await asyncio.sleep(0.3)
        assert len(runs) == 2
        assert await repo.count_submissions() == 1


# --- 4. PostgreSQL: the writer connection dies ------------------------------------------------


async def _terminate(url: str, pid: int) -> None:
    admin = await asyncpg.connect(url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid) is True
        for _ in range(500):
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
            )
            if not alive:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"backend {pid} still alive")
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_postgres_writer_reconnects_after_its_backend_is_killed(
    pg_server: PgServer,
) -> None:
    """A write after the idle writer's backend died goes through on a new connection.

    The stale connection shows itself at BEGIN, before any of the write was sent (sometimes
    as asyncpg's "another operation is in progress"), so the write is begun again on a new
    connection instead of failing.
    """
    url = pg_server.create_database()
    async with opened(url) as repo:
        assert isinstance(repo, PostgresRepository)
        records = make_records(10)
        assert await write(repo, records[:2]) == ["accepted", "accepted"]
        for record in records[2:]:
            assert repo._write_conn is not None
            old_pid = await repo._write_conn.fetchval("SELECT pg_backend_pid()")
            await _terminate(url, old_pid)
            assert await write(repo, [record]) == ["accepted"]
            new_pid = await repo._write_conn.fetchval("SELECT pg_backend_pid()")
            assert new_pid != old_pid
        # A retry is a duplicate; everything acknowledged is stored, once.
        assert await write(repo, [records[2]]) == ["duplicate"]
        assert await repo.submission_ids() == {r.submission_id for r in records}
        assert await repo.totals() == (10, 10)


@pytest.mark.postgres
async def test_postgres_reads_recover_after_their_backends_are_killed(
    pg_server: PgServer,
) -> None:
    """Reads on pooled connections whose backends died answer a StorageError or the data,
    never another exception, and the next read works."""
    url = pg_server.create_database()
    async with opened(url) as repo:
        assert isinstance(repo, PostgresRepository)
        assert await write(repo, [make_record(0)]) == ["accepted"]
        admin = await asyncpg.connect(url)
        try:
            pids = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        for row in pids:
            await _terminate(url, row["pid"])
        failures = 0
        for _ in range(11):  # each pooled connection (at most 10) may fail once
            try:
                assert await repo.count_submissions() == 1
                break
            except StorageError:
                failures += 1
        else:
            raise AssertionError("no read recovered")
        assert failures <= 10
        assert await repo.count_submissions() == 1
        assert await write(repo, [make_record(1)]) == ["accepted"]


# --- 5. combine_inserts ----------------------------------------------------------------------


def test_combine_inserts_two_statements() -> None:
    combined = combine_inserts(
        [
            Many(
                "INSERT INTO a (x, y) VALUES (?, ?) ON CONFLICT (x) DO NOTHING",
                [(1, "one"), (2, "two")],
            ),
            Many("INSERT INTO b (p, q, r) VALUES (?, ?, ?)", [("k", None, 5), ("l", None, None)]),
        ]
    )
    assert combined is not None
    sql, args = combined
    assert sql == (
        "WITH w0 AS (INSERT INTO a (x, y) SELECT * FROM unnest($1::bigint[], $2::text[]) "
        "ON CONFLICT (x) DO NOTHING), "
        "w1 AS (INSERT INTO b (p, q, r) SELECT * FROM unnest($3::text[], $4::text[], "
        "$5::bigint[])) SELECT 1"
    )
    assert sql.count(" AS (INSERT INTO ") == 2
    # Column arrays, in placeholder order; an all-None column is text[], ints with None bigint[].
    assert args == [[1, 2], ["one", "two"], ["k", "l"], [None, None], [5, None]]


def test_combine_inserts_single_statement() -> None:
    combined = combine_inserts([Many("INSERT INTO t (a) VALUES (?)", [(7,), (8,)])])
    assert combined == (
        "WITH w0 AS (INSERT INTO t (a) SELECT * FROM unnest($1::bigint[])) SELECT 1",
        [[7, 8]],
    )


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE t SET a = ? WHERE b = ?",
        "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ?",
        "INSERT INTO t (a, b) VALUES (?, ?) RETURNING (SELECT ? )",
        "DELETE FROM t WHERE a = ? AND b = ?",
    ],
)
def test_combine_inserts_refuses_other_statements(sql: str) -> None:
    good = Many("INSERT INTO ok (x, y) VALUES (?, ?)", [(1, 2)])
    other = Many(sql, [(1, 2)])
    assert combine_inserts([other]) is None
    assert combine_inserts([good, other]) is None
    assert combine_inserts([other, good]) is None


@pytest.mark.postgres
async def test_combined_statement_runs_on_postgresql(pg_server: PgServer) -> None:
    url = pg_server.create_database()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE a (x BIGINT PRIMARY KEY, y TEXT)")
        await conn.execute("CREATE TABLE b (p TEXT PRIMARY KEY, q TEXT, r INTEGER)")
        await conn.execute("INSERT INTO a (x, y) VALUES (1, 'old')")
        combined = combine_inserts(
            [
                Many(
                    "INSERT INTO a (x, y) VALUES (?, ?) ON CONFLICT (x) DO UPDATE SET "
                    "y = a.y || '+' || excluded.y",
                    [(1, "one"), (2, "two")],
                ),
                Many(
                    "INSERT INTO b (p, q, r) VALUES (?, ?, ?)", [("k", None, 5), ("l", None, None)]
                ),
            ]
        )
        assert combined is not None
        sql, args = combined
        await conn.execute(sql, *args)
        assert [tuple(r) for r in await conn.fetch("SELECT x, y FROM a ORDER BY x")] == [
            (1, "old+one"),
            (2, "two"),
        ]
        assert [tuple(r) for r in await conn.fetch("SELECT p, q, r FROM b ORDER BY p")] == [
            ("k", None, 5),
            ("l", None, None),
        ]
    finally:
        await conn.close()


# --- 6. GroupCommitWriter on a real SQLite repository ----------------------------------------


@asynccontextmanager
async def sqlite_writer(
    tmp_path: Path, **options: Any
) -> AsyncIterator[tuple[GroupCommitWriter, Repository]]:
    url, _ = sqlite_url(tmp_path, "writer.db")
    async with opened(url) as repo:
        writer = GroupCommitWriter(repo, rate_limit_per_hour=LIMIT, **options)
        writer.start()
        try:
            yield writer, repo
        finally:
            await writer.stop()


async def _queued(writer: GroupCommitWriter, task: asyncio.Task[Any]) -> None:
    """Let `task` run until its submit() has queued the record."""
    for _ in range(10):
        await asyncio.sleep(0)
        if writer.pending or task.done():
            return


async def test_cancelled_waiter_is_still_written(tmp_path: Path) -> None:
    async with sqlite_writer(tmp_path) as (writer, repo):
        record = make_record(0)
        waiter = asyncio.create_task(writer.submit(record))
        await asyncio.sleep(0)  # submit() has queued the record and awaits its batch
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # The next submission is written in the same or a later batch.
        later = make_record(1)
        assert (await writer.submit(later)).outcome == "accepted"
        assert await repo.submission_ids() == {record.submission_id, later.submission_id}


async def test_cancelled_waiter_written_by_stop(tmp_path: Path) -> None:
    async with sqlite_writer(tmp_path) as (writer, repo):
        record = make_record(0)
        waiter = asyncio.create_task(writer.submit(record))
        await _queued(writer, waiter)
        waiter.cancel()
        await writer.stop()
        assert waiter.cancelled()
        assert await repo.submission_ids() == {record.submission_id}


async def test_stop_writes_everything_queued_then_refuses(tmp_path: Path) -> None:
    batches: list[int] = []
    async with sqlite_writer(
        tmp_path, max_batch=8, on_batch=lambda size, _seconds: batches.append(size)
    ) as (writer, repo):
        records = make_records(50)
        waiters = [asyncio.create_task(writer.submit(r)) for r in records]
        await asyncio.sleep(0)  # every submit() has queued its record
        assert writer.pending + sum(batches) > 0
        await writer.stop()
        assert writer.pending == 0
        assert all(w.done() for w in waiters)
        results = [w.result() for w in waiters]
        assert [r.outcome for r in results] == ["accepted"] * 50
        assert [r.submission_id for r in results] == [r.submission_id for r in records]
        assert sum(batches) == 50
        assert max(batches) <= 8
        assert await repo.count_submissions() == 50
        with pytest.raises(WriterStopped):
            await writer.submit(make_record(99))
        assert await repo.count_submissions() == 50
