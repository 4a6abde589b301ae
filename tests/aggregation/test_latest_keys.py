"""The per-installation key table behind the exact 'other' bucket: kept by every write path,
filled for existing databases by its migration, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agg_payloads import make_stats
from printernizer_usage_core.models import TimePeriod

from aggregation import rollups as r
from aggregation.demo_data import load_into_repository
from aggregation.storage import Repository, open_repository
from aggregation.storage.analytics import installations_with_any
from aggregation.storage.migrations import LATEST_KEYS_MIGRATION
from aggregation.storage.signin import _sql
from aggregation.storage.sql import Execute, Work

ROOT = Path(__file__).resolve().parents[2]
RARE = ["NozzleError", "BedError", "FanError", "HeaterError"]


def _period(weeks_ago: int) -> TimePeriod:
    end = datetime.now(UTC).date() - timedelta(days=7 * weeks_ago)
    return TimePeriod.from_days(end - timedelta(days=7), end)


async def _keys(repository: Repository) -> set[tuple[str, str, str]]:
    async with _sql(repository)._read() as tx:
        rows = await tx.fetch("SELECT dim, key, installation_id FROM latest_keys")
    return {(row[0], row[1], row[2]) for row in rows}


async def _other(repository: Repository, dim: str, keys: list[str]) -> int:
    since = datetime.now(UTC).date().toordinal() - 29
    return await installations_with_any(repository, since, dim, keys)


def _as_version_3() -> Work[None]:
    """A database from before the key table (what an upgrade finds)."""
    yield Execute("DROP TABLE latest_keys")
    yield Execute("DELETE FROM schema_migrations WHERE version = ?", [LATEST_KEYS_MIGRATION])


async def test_key_table_follows_the_latest_report(database_url: str) -> None:
    repository = await open_repository(database_url)
    try:
        ids = [uuid.uuid4() for _ in range(3)]
        await load_into_repository(
            repository,
            [make_stats(i, period=_period(2), errors=dict.fromkeys(RARE, 1)) for i in ids],
        )
        assert await _other(repository, r.ERROR, RARE) == 3, "each installation once"
        # A newer report without the errors replaces the keys; an older one changes nothing.
        await load_into_repository(repository, [make_stats(ids[0], period=_period(1))])
        await load_into_repository(
            repository, [make_stats(ids[1], period=_period(4), errors={"FanError": 1})]
        )
        assert await _other(repository, r.ERROR, RARE) == 2
        keys = await _keys(repository)
        assert not any(iid == str(ids[0]) for dim, _, iid in keys if dim == r.ERROR)
        assert (r.FEATURE, "auto_job_creation", str(ids[0])) in keys
        assert all(dim in r.MULTI_VALUED for dim, _, _ in keys)
        # Deleting an installation takes its keys along.
        await repository.delete_installation(str(ids[1]))
        assert await _other(repository, r.ERROR, RARE) == 1
        assert not any(iid == str(ids[1]) for _, _, iid in await _keys(repository))
        # Retention drops the keys of latest reports it drops.
        before = datetime.now(UTC).date().toordinal() + 1
        await repository.purge(before_day=before, now_hour=0)
        assert await _keys(repository) == set()
    finally:
        await repository.close()


async def test_migration_fills_the_key_table_of_an_existing_database(database_url: str) -> None:
    repository = await open_repository(database_url)
    try:
        reports = [make_stats(period=_period(1), errors=dict.fromkeys(RARE, 2)) for _ in range(3)]
        reports += [make_stats(period=_period(1), errors={"TimeoutError": 1}) for _ in range(5)]
        await load_into_repository(repository, reports)
        expected = await _keys(repository)
        await _sql(repository)._run_write(_as_version_3())
    finally:
        await repository.close()
    repository = await open_repository(database_url)
    try:
        assert await repository.schema_version() >= LATEST_KEYS_MIGRATION
        assert await _keys(repository) == expected
        assert len([k for k in expected if k[0] == r.ERROR]) == 3 * 4 + 5
        assert await _other(repository, r.ERROR, RARE) == 3
    finally:
        await repository.close()


def test_other_bucket_benchmark_runs() -> None:
    # The benchmark checks its count against the seeded reports and fails when they differ.
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/aggregation_other_bucket.py",
            "--installations",
            "3000",
            "--calls",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert result.stdout.splitlines()[-1].startswith("| SQLite | 3,000 | 6 |")
