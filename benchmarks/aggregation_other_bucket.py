"""Cost of the exact "other" bucket of multi-valued dimensions (errors, features) at scale.

    .venv/bin/python benchmarks/aggregation_other_bucket.py                    # SQLite, 20,000
    .venv/bin/python benchmarks/aggregation_other_bucket.py --installations 100000
    .venv/bin/python benchmarks/aggregation_other_bucket.py --postgres --installations 20000
Prints a Markdown table row for docs/BENCHMARKS.md.

Seeds two weekly reports per installation through the repository (the write path `/submit`
uses; the seed times of the first and of the second week show what the write path costs),
from `aggregation_common.make_stats`, where one installation in 1,000 also reports one of
30 rare error types and another one of 30 rare features (about 3 installations each, under
k = 5, so they fold into "other"). Then times, in-process, the distinct count of the
installations behind the folded buckets (`analytics.installations_with_any`) and the
`/stats/errors` and `/stats/features` answers that use it, and checks the count against a
count from the reports themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation_common import Postgres, make_stats
from printernizer_usage_core.models import AggregatedStats

from aggregation import rollups as r
from aggregation.rollups import hour_number, today
from aggregation.settings import Settings
from aggregation.stats import StatsService, small_keys
from aggregation.storage import analytics, open_repository
from aggregation.validation import to_record
from benchmarks.quantiles import percentile

RARE_EVERY = 1000
RARE_KINDS = 30


def report(i: int, weeks_ago: int) -> AggregatedStats:
    """make_stats(i), and for one installation in RARE_EVERY a rare error or feature."""
    stats = make_stats(i, weeks_ago)
    rare = (i // RARE_EVERY) % RARE_KINDS
    if i % RARE_EVERY == 0:
        errors = {**stats.error_summary, f"RareError{rare}": 1}
        return stats.model_copy(update={"error_summary": errors})
    if i % RARE_EVERY == 1:
        features = {**stats.usage_stats.feature_usage, f"rare_feature_{rare}": True}
        usage = stats.usage_stats.model_copy(update={"feature_usage": features})
        return stats.model_copy(update={"usage_stats": usage})
    return stats


async def run(url: str, installations: int, calls: int) -> dict[str, float]:
    repo = await open_repository(url)
    received = today()
    seeded = []
    try:
        for weeks_ago in (1, 0):
            started = time.perf_counter()
            for n in range(0, installations, 1000):
                records = [
                    to_record(report(i, weeks_ago), original_schema="2.0", received_day=received)
                    for i in range(n, min(n + 1000, installations))
                ]
                await repo.write_batch(records, rate_limit_per_hour=10**9, now_hour=hour_number())
            seeded.append(time.perf_counter() - started)
        stats = StatsService(repo, Settings(database_url=url))
        since = stats.window_start(30)
        rows = await repo.latest_rollup(since)
        errors = small_keys({row.key: row for row in rows if row.dim == r.ERROR}, 5)
        features = small_keys({row.key: row for row in rows if row.dim == r.FEATURE}, 5)
        expected = len(range(0, installations, RARE_EVERY))
        assert len(errors) > 1, "the seed must fold several error types"
        count = await analytics.installations_with_any(repo, since, r.ERROR, errors)
        assert count == expected, (count, expected)
        timings: dict[str, list[float]] = {"count": [], "errors": [], "features": []}
        for _ in range(calls):
            t0 = time.perf_counter()
            await analytics.installations_with_any(repo, since, r.ERROR, errors)
            await analytics.installations_with_any(repo, since, r.FEATURE, features)
            t1 = time.perf_counter()
            await stats.errors(30)
            t2 = time.perf_counter()
            await stats.features(30)
            t3 = time.perf_counter()
            timings["count"].append((t1 - t0) * 500)  # ms per dimension
            timings["errors"].append((t2 - t1) * 1000)
            timings["features"].append((t3 - t2) * 1000)
    finally:
        await repo.close()
    return {
        "seed_first_s": seeded[0],
        "seed_second_s": seeded[1],
        "folded": len(errors) + len(features),
        **{f"{name}_p50": percentile(values, 0.5) for name, values in timings.items()},
        **{f"{name}_max": max(values) for name, values in timings.items()},
    }


def main() -> None:
    """Seed, time and print one table row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installations", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            pg = Postgres()
            url = pg.start()
            try:
                result = asyncio.run(run(url, args.installations, args.calls))
            finally:
                pg.stop()
        else:
            url = f"sqlite:///{Path(tmp) / 'agg.db'}"
            result = asyncio.run(run(url, args.installations, args.calls))
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        "| backend | installations | folded buckets | seed s (week 1 / week 2) "
        "| count p50 ms (max) "
        "| /stats/errors p50 ms (max) | /stats/features p50 ms (max) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {backend} | {args.installations:,} | {result['folded']} "
        f"| {result['seed_first_s']:.1f} / {result['seed_second_s']:.1f} "
        f"| {result['count_p50']:.2f} ({result['count_max']:.2f}) "
        f"| {result['errors_p50']:.2f} ({result['errors_max']:.2f}) "
        f"| {result['features_p50']:.2f} ({result['features_max']:.2f}) |"
    )


if __name__ == "__main__":
    main()
