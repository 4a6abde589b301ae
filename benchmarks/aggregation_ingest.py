"""Ingest benchmark: POST /submit over real HTTP at several concurrencies, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/aggregation_ingest.py              # short run (~2 minutes)
    .venv/bin/python benchmarks/aggregation_ingest.py --full       # bigger runs
Prints Markdown tables for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation_common import Postgres, Server, payload

from benchmarks.quantiles import percentile

_COUNTER = itertools.count()


async def timed_post(
    session: aiohttp.ClientSession, url: str, body: dict[str, object], latencies: list[float]
) -> bool:
    """POST one report, append its latency; True when the server stored it (201)."""
    started = time.perf_counter()
    try:
        async with session.post(f"{url}/submit", json=body) as response:
            await response.read()
            stored = response.status == 201
    except aiohttp.ClientError:
        stored = False
    latencies.append(time.perf_counter() - started)
    return stored


def summary(latencies: list[float], rate: float, errors: int) -> dict[str, float]:
    """Rate, latency quantiles in ms and the error count of one run."""
    return {
        "rate": rate,
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies) * 1000,
        "errors": errors,
    }


async def closed_loop(url: str, concurrency: int, total: int) -> dict[str, float]:
    """`concurrency` clients each sending back-to-back until `total` requests are done."""
    bodies = [payload(next(_COUNTER)) for _ in range(total)]
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client() -> None:
            nonlocal errors
            for body in queue:
                if not await timed_post(session, url, body, latencies):
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return summary(latencies, total / elapsed, errors)


async def open_loop(url: str, rate: int, seconds: float) -> dict[str, float]:
    """A fixed arrival rate (requests/s) regardless of how fast answers come."""
    total = int(rate * seconds)
    bodies = [payload(next(_COUNTER)) for _ in range(total)]
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(body: dict[str, object]) -> None:
            nonlocal errors
            if not await timed_post(session, url, body, latencies):
                errors += 1

        tasks = []
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return summary(latencies, total / (time.perf_counter() - start), errors)


async def run_backend(name: str, url: str, args: argparse.Namespace) -> list[str]:
    server = Server(url, WORKERS=str(args.workers))
    await server.start()
    rows = []
    try:
        await closed_loop(server.url, 8, 200)  # warm-up
        for concurrency in args.concurrency:
            cpu = server.cpu_seconds()
            r = await closed_loop(server.url, concurrency, args.requests)
            cpu_ms = (server.cpu_seconds() - cpu) / args.requests * 1000
            rows.append(
                f"| {name} | closed, c={concurrency} | {args.requests} | {r['rate']:.0f} | "
                f"{r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | {r['errors']} | "
                f"{cpu_ms:.2f} |"
            )
            print(rows[-1], flush=True)
        cpu = server.cpu_seconds()
        r = await open_loop(server.url, args.rate, args.seconds)
        cpu_ms = (server.cpu_seconds() - cpu) / (args.rate * args.seconds) * 1000
        rows.append(
            f"| {name} | open, {args.rate} req/s | {int(args.rate * args.seconds)} | "
            f"{r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.0f} | {r['errors']} | "
            f"{cpu_ms:.2f} |"
        )
        print(rows[-1], flush=True)
        rows.append(f"| {name} | peak server RSS | | {server.peak_rss_mb():.0f} MB | | | | | |")
    finally:
        server.stop()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64]
    )
    parser.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    parser.add_argument("--rate", type=int, default=500, help="open-loop arrival rate")
    parser.add_argument("--seconds", type=float, default=10, help="open-loop duration")
    parser.add_argument("--full", action="store_true", help="20,000 requests, 60 s open loop")
    parser.add_argument("--workers", type=int, default=1, help="server processes (WORKERS)")
    parser.add_argument("--pg-url", help="use this PostgreSQL instead of a throwaway one")
    args = parser.parse_args()
    if args.full:
        args.requests, args.seconds = 20_000, 60
    rows = [
        "| backend | load | requests | submissions/s | p50 ms | p99 ms | max ms | errors "
        "| server CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(rows), flush=True)
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            rows += await run_backend("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if args.backend in ("postgresql", "both"):
        pg = None
        url = args.pg_url
        if url is None:
            pg = Postgres()
            url = pg.start()
        try:
            rows += await run_backend("PostgreSQL", url, args)
        finally:
            if pg is not None:
                pg.stop()
    print("\n## Aggregation ingest (copy into docs/BENCHMARKS.md)\n")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
