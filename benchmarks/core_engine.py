"""Core engine benchmarks: record_event cost, durable throughput, aggregation speed, file size."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from printernizer_usage_core.models import TimePeriod
from printernizer_usage_core.privacy import EVENT_TYPES, sanitize_event
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.store import EventRow, UsageStore

from benchmarks.quantiles import percentile

EVENTS: list[tuple[str, dict[str, object]]] = [
    ("job_created", {"printer_type": "bambu_lab"}),
    ("job_completed", {"printer_type": "bambu_lab", "duration_seconds": 5400}),
    ("job_failed", {"printer_type": "prusa_core", "error": "TimeoutError"}),
    ("file_downloaded", {"printer_type": "bambu_lab", "file_type": "3mf", "file_size": 4_200_000}),
    ("file_uploaded", {"printer_type": "octoprint", "file_type": "gcode", "file_size": 900_000}),
    ("printer_connected", {"printer_type": "octoprint"}),
    ("error_occurred", {"error": "ConnectionResetError", "component": "printer"}),
    ("error_occurred", {"error": "KeyError", "component": "api"}),
]


def _files_size(path: Path) -> int:
    return sum(
        os.path.getsize(f"{path}{suffix}")
        for suffix in ("", "-wal")
        if os.path.exists(f"{path}{suffix}")
    )


async def bench_record_cost(tmp: Path, calls: int) -> dict[str, float]:
    """Caller cost of record_event with the background writer running."""
    service = UsageStatsService(tmp / "cost.db", app_version="1.0.0", environ={}, time_zone="UTC")
    await service.start()
    samples: list[float] = []
    clock = time.perf_counter_ns
    record = service.record_event
    for chunk in range(calls // 1000):
        for i in range(1000):
            name, meta = EVENTS[(chunk + i) % len(EVENTS)]
            start = clock()
            record(name, meta)
            samples.append((clock() - start) / 1000)
        await asyncio.sleep(0)  # let the writer run between bursts, as in a real host
    await service.stop()
    return {
        "calls": len(samples),
        "p50_us": percentile(samples, 0.50),
        "p99_us": percentile(samples, 0.99),
        "p999_us": percentile(samples, 0.999),
        "mean_us": statistics.fmean(samples),
    }


async def bench_throughput(tmp: Path, events: int) -> dict[str, float]:
    """Sustained durable events per second: record, and count only what a flush committed."""
    service = UsageStatsService(
        tmp / "throughput.db", app_version="1.0.0", environ={}, time_zone="UTC", max_queue=events
    )
    await service.start()
    start = time.perf_counter()
    for i in range(events):
        name, meta = EVENTS[i % len(EVENTS)]
        service.record_event(name, meta)
        if i % 10_000 == 0:
            await asyncio.sleep(0)
    await service.flush()
    written = service.recorder.counters.written
    elapsed = time.perf_counter() - start
    await service.stop()
    return {"events": written, "seconds": elapsed, "events_per_s": written / elapsed}


def _history(days: int, per_day: int, first: date, seed: int = 1) -> list[list[EventRow]]:
    rng = random.Random(seed)
    cleaned = []
    for name, meta in EVENTS:
        result = sanitize_event(name, meta)
        assert result is not None
        dimension_key = EVENT_TYPES[name].dimension
        dimension = str(result[1].get(dimension_key, "")) if dimension_key else ""
        cleaned.append((name, result[1], dimension))
    base = datetime.combine(first, datetime.min.time(), tzinfo=UTC).timestamp()
    batches = []
    for day in range(days):
        start = base + day * 86400
        batches.append(
            [
                EventRow(name, start + rng.randrange(86400), meta, dimension)
                for name, meta, dimension in (rng.choice(cleaned) for _ in range(per_day))
            ]
        )
    return batches


async def bench_aggregation(tmp: Path, total_events: int) -> dict[str, float]:
    """Aggregating from a store that holds one year of `total_events` events."""
    path = tmp / "year.db"
    today = date(2026, 11, 22)
    first = today - timedelta(days=365)
    store = UsageStore(path)
    await store.open()
    per_day = total_events // 365
    for batch in _history(365, per_day, first):
        await store.insert_events(batch)
    await store.close()
    service = UsageStatsService(
        path,
        app_version="1.0.0",
        environ={},
        time_zone="UTC",
        clock=lambda: datetime(2026, 11, 22, 12, tzinfo=UTC),
    )
    await service.start()
    await service.opt_in()
    week = TimePeriod.from_days(today - timedelta(days=7), today)
    weekly, yearly, local = [], [], []
    for _ in range(20):
        t0 = time.perf_counter()
        await service.aggregate(week)
        t1 = time.perf_counter()
        await service.store.rollup_totals(first, today)
        t2 = time.perf_counter()
        await service.local_stats(days=365)
        t3 = time.perf_counter()
        weekly.append((t1 - t0) * 1000)
        yearly.append((t2 - t1) * 1000)
        local.append((t3 - t2) * 1000)
    await service.stop()
    return {
        "events": per_day * 365,
        "weekly_payload_ms_p50": statistics.median(weekly),
        "year_rollup_totals_ms_p50": statistics.median(yearly),
        "local_stats_365d_ms_p50": statistics.median(local),
        "max_ms": max(weekly + yearly + local),
    }


async def bench_size(tmp: Path, per_day: int, days: int, retention_days: int) -> dict[str, float]:
    """File size after `days` of `per_day` events with daily retention pruning."""
    path = tmp / "size.db"
    current = {"now": datetime(2026, 1, 1, tzinfo=UTC)}
    service = UsageStatsService(
        path, app_version="1.0.0", environ={}, time_zone="UTC", clock=lambda: current["now"]
    )
    await service.start()
    await service.set_retention_days(retention_days)
    for index, batch in enumerate(_history(days, per_day, current["now"].date(), seed=3)):
        await service.store.insert_events(batch)
        current["now"] = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=index + 1)
        await service.prune()
    await service.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    kept, _ = await service.store.count_events()
    await service.stop()
    return {"raw_events_kept": kept, "size_mb": _files_size(path) / 1_000_000}


async def run(quick: bool) -> dict[str, dict[str, float]]:
    """Run every core benchmark; `quick` shrinks sizes for a smoke run."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        return {
            "record_event caller cost": await bench_record_cost(tmp, 20_000 if quick else 200_000),
            "durable throughput": await bench_throughput(tmp, 50_000 if quick else 1_000_000),
            "aggregation, one year": await bench_aggregation(tmp, 36_500 if quick else 1_000_000),
            "database size, one year": await bench_size(
                tmp, 100 if quick else 1_000, 365, retention_days=90
            ),
        }


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Print the results as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.quick))
    print("| benchmark | result |\n|---|---|")
    for name, values in results.items():
        shown = ", ".join(
            f"{key} {value:,.2f}" if isinstance(value, float) else f"{key} {value:,}"
            for key, value in values.items()
        )
        print(f"| {name} | {shown} |")
    return results


if __name__ == "__main__":
    main()
