"""What one single-report group commit costs on SQLite, in process: SQL, COMMIT, WAL pages.

    .venv/bin/python benchmarks/aggregation_commit_cost.py
    .venv/bin/python benchmarks/aggregation_commit_cost.py --without-rowid \\
        installations,rate_limits,latest_rollup,weekly_rollup
    .venv/bin/python benchmarks/aggregation_commit_cost.py --returning

Writes distinct reports, one per transaction, through the SQLite repository (the write path of
POST /submit at concurrency 1), on two database files in turns of 100 commits: the schema as
shipped, and the same schema with the tables named by `--without-rowid` rebuilt WITHOUT ROWID
(an experiment; without it both files are alike, which shows the noise). Prints, per commit,
the thread time of each statement (on the event loop's thread), of COMMIT (on the writer
thread: WAL writes and the fdatasync) and the WAL frames written.

By default every report is a new installation's first (the ingest benchmark's load). With
`--returning` each installation sent last week's report first (written beforehand, in batches)
and the timed commits are this week's reports of known installations: the weekly case.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation_common import make_stats

from aggregation.rollups import hour_number, today
from aggregation.storage import sqlite
from aggregation.storage.sqlite import SqliteRepository
from aggregation.validation import to_record

BLOCK = 100
WAL_HEADER = 32
FRAME_HEADER = 24


class Timings:
    """Thread time per statement kind, and of COMMIT, since the last reset."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.commit = 0

    def reset(self) -> None:
        self.statements.clear()
        self.commit = 0


TIMINGS = Timings()


class _TimedConnection:
    """A sqlite3 connection whose execute() is timed by statement kind."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        started = time.thread_time_ns()
        cursor = self._conn.execute(sql, *args)
        rows = cursor.fetchall() if sql.startswith("SELECT") else None
        TIMINGS.statements[" ".join(sql.split()[:3])] += time.thread_time_ns() - started
        return _Rows(rows, cursor.rowcount) if rows is not None else cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _Rows:
    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchall(self) -> list[Any]:
        return self._rows


def _instrument() -> None:
    run_statements: Callable[..., Any] = sqlite._run_statements
    commit: Callable[[Any], None] = sqlite._commit

    def timed_statements(conn: Any, work: Any) -> Any:
        return run_statements(_TimedConnection(conn), work)

    def timed_commit(conn: Any) -> None:
        started = time.thread_time_ns()
        commit(conn)
        TIMINGS.commit += time.thread_time_ns() - started

    sqlite._run_statements = timed_statements
    sqlite._commit = timed_commit


async def _rebuild_without_rowid(repo: SqliteRepository, tables: list[str]) -> None:
    """Copy each table into a WITHOUT ROWID table of the same columns and primary key."""

    def rebuild(conn: Any) -> None:
        for table in tables:
            columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
            key = [c[1] for c in sorted(columns, key=lambda c: c[5]) if c[5]]
            defs = ", ".join(
                f"{c[1]} {c[2]} NOT NULL" if c[3] or c[5] else f"{c[1]} {c[2]}" for c in columns
            )
            names = ", ".join(c[1] for c in columns)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"CREATE TABLE {table}_x ({defs}, PRIMARY KEY ({', '.join(key)})) WITHOUT ROWID"
            )
            conn.execute(f"INSERT INTO {table}_x ({names}) SELECT {names} FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_x RENAME TO {table}")
            conn.execute("COMMIT")

    await repo._writer.call(rebuild)


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=20, help=f"turns of {BLOCK} commits each")
    parser.add_argument(
        "--without-rowid",
        type=lambda text: [t for t in text.split(",") if t],
        default=[],
        help="comma-separated tables to rebuild WITHOUT ROWID in the second file",
    )
    parser.add_argument(
        "--returning",
        action="store_true",
        help="time this week's reports of installations that sent last week's (not new ones)",
    )
    args = parser.parse_args()
    _instrument()
    hour = hour_number(datetime.now(UTC))
    count = BLOCK * args.blocks
    records = [
        to_record(make_stats(i), original_schema="2.0", received_day=today())
        for i in range(count * 2 + 600)
    ]
    with tempfile.TemporaryDirectory() as tmp_name:
        paths = {"as shipped": Path(tmp_name) / "a.db", "variant": Path(tmp_name) / "b.db"}
        repos = {name: await SqliteRepository.open(f"sqlite:///{p}") for name, p in paths.items()}
        await _rebuild_without_rowid(repos["variant"], args.without_rowid)
        if args.returning:
            earlier = [
                to_record(make_stats(i, 1), original_schema="2.0", received_day=today())
                for i in range(len(records))
            ]
            for repo in repos.values():
                for start in range(0, len(earlier), 200):
                    await repo.write_batch(
                        earlier[start : start + 200], rate_limit_per_hour=1000, now_hour=hour
                    )
        for repo in repos.values():
            if repo._checkpoints is not None:  # the WAL grows only: its size counts the frames
                repo._checkpoints.cancel()
        for name, repo in repos.items():  # tables not empty, statements compiled
            for record in records[:300] if name == "as shipped" else records[300:600]:
                await repo.write_batch([record], rate_limit_per_hour=1000, now_hour=hour)
        rows: dict[str, list[tuple[Counter[str], int, float]]] = {name: [] for name in repos}
        todo = iter(records[600:])
        for block in range(args.blocks):
            order = list(repos) if block % 2 else list(reversed(repos))
            for name in order:
                before = _wal_bytes(paths[name])
                TIMINGS.reset()
                for _ in range(BLOCK):
                    record = next(todo)
                    await repos[name].write_batch([record], rate_limit_per_hour=1000, now_hour=hour)
                grown = _wal_bytes(paths[name]) - max(before, WAL_HEADER)
                frames = grown / (FRAME_HEADER + 4096) / BLOCK
                rows[name].append((Counter(TIMINGS.statements), TIMINGS.commit, frames))
        for repo in repos.values():
            await repo.close()
    label = f"WITHOUT ROWID: {', '.join(args.without_rowid) or '(none)'}"
    kind = "returning installations' weekly" if args.returning else "new installations' first"
    print(
        f"{count} single-report commits per file ({kind} reports); medians over "
        f"{args.blocks} blocks, µs/commit"
    )
    print(f"| | as shipped | {label} |")
    print("|---|---|---|")
    for kind in sorted({k for block in rows["as shipped"] for k in block[0]}):
        _row(kind, [[b[0][kind] / BLOCK / 1000 for b in rows[n]] for n in repos])
    _row(
        "all SQL before COMMIT",
        [[sum(b[0].values()) / BLOCK / 1000 for b in rows[n]] for n in repos],
    )
    _row(
        "COMMIT (writer thread: WAL writes, fdatasync)",
        [[b[1] / BLOCK / 1000 for b in rows[n]] for n in repos],
    )
    _row("WAL frames per commit", [[b[2] for b in rows[n]] for n in repos])


def _row(what: str, columns: list[list[float]]) -> None:
    cells = " | ".join(f"{statistics.median(values):.1f}" for values in columns)
    print(f"| {what} | {cells} |")


if __name__ == "__main__":
    asyncio.run(main())
