"""`/stats/overview` latency over many installations x weekly submissions (seeded in bulk).

    .venv/bin/python benchmarks/aggregation_overview.py                 # 2,000 x 52 (short)
    .venv/bin/python benchmarks/aggregation_overview.py --installations 100000 --weeks 52
Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation_common import ADMIN_KEY, Postgres, Server, make_stats

from aggregation.rollups import hour_number, today
from aggregation.storage import open_repository
from aggregation.validation import to_record
from benchmarks.quantiles import percentile


async def seed(url: str, installations: int, weeks: int, batch: int = 1000) -> float:
    """Store installations x weeks reports through the repository (oldest week first)."""
    repo = await open_repository(url)
    started = time.perf_counter()
    received = today()
    try:
        for weeks_ago in range(weeks - 1, -1, -1):
            records = [
                to_record(make_stats(i, weeks_ago), original_schema="2.0", received_day=received)
                for i in range(installations)
            ]
            for n in range(0, len(records), batch):
                await repo.write_batch(
                    records[n : n + batch], rate_limit_per_hour=10**9, now_hour=hour_number()
                )
            print(f"  seeded week -{weeks_ago}", file=sys.stderr, flush=True)
    finally:
        await repo.close()
    return time.perf_counter() - started


async def measure(url: str, requests: int) -> dict[str, float]:
    server = Server(url)
    await server.start()
    latencies = []
    try:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            for n in range(requests + 3):
                started = time.perf_counter()
                async with session.get(f"{server.url}/stats/overview?days=30") as response:
                    assert response.status == 200, await response.text()
                    await response.read()
                if n >= 3:  # first calls warm caches and connections
                    latencies.append(time.perf_counter() - started)
    finally:
        server.stop()
    return {
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--installations", type=int, default=2000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    rows = [
        "| backend | installations x weeks | seed time s | overview p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    size = f"{args.installations:,} x {args.weeks}"
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            seeded = await seed(url, args.installations, args.weeks)
            r = await measure(url, args.requests)
            rows.append(
                f"| SQLite | {size} | {seeded:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                f"{r['max']:.1f} |"
            )
    if args.backend in ("postgresql", "both"):
        pg = Postgres()
        url = pg.start()
        try:
            seeded = await seed(url, args.installations, args.weeks)
            r = await measure(url, args.requests)
            rows.append(
                f"| PostgreSQL | {size} | {seeded:.0f} | {r['p50']:.1f} | "
                f"{r['p99']:.1f} | {r['max']:.1f} |"
            )
        finally:
            pg.stop()
    print("\n## Aggregation /stats/overview (copy into docs/BENCHMARKS.md)\n")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
