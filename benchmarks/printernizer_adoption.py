"""Adoption by Printernizer: the drop-in's record_event cost and the client's memory bound."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from printernizer_usage_core.printernizer import UsageStatisticsService
from printernizer_usage_core.printernizer_client import UsageStatsClient

from benchmarks.quantiles import percentile

# What Printernizer's eight hook points send (tests/adoption/call_sites.py has the full table).
CALLS: list[tuple[str, dict[str, object]]] = [
    ("app_start", {"app_version": "2.7.0", "python_version": "3.12.3", "platform": "linux"}),
    ("job_created", {"printer_type": "bambu_lab", "is_auto_created": True}),
    ("job_completed", {"duration_minutes": 95}),
    ("job_failed", {}),
    ("file_downloaded", {"file_size_mb": 12.5}),
    ("file_uploaded", {"file_size_mb": 0.42, "is_business": True}),
    ("printer_connected", {"printer_type": "prusa"}),
    ("printer_disconnected", {"printer_type": "octoprint"}),
]


class _Path:
    def __init__(self, path: Path) -> None:
        self.db_path = path


async def bench_dropin(tmp: Path, calls: int) -> dict[str, float]:
    """Caller cost of `await record_event(...)` on the drop-in, writer running."""
    service = UsageStatisticsService(
        _Path(tmp / "printernizer.db"), app_version="2.7.0", environ={}, submit=False
    )
    await service.initialize()
    samples: list[float] = []
    clock = time.perf_counter_ns
    for chunk in range(calls // 1000):
        for i in range(1000):
            name, meta = CALLS[(chunk + i) % len(CALLS)]
            start = clock()
            await service.record_event(name, meta)
            samples.append((clock() - start) / 1000)
        await asyncio.sleep(0)
    await service.shutdown()
    return {
        "calls": len(samples),
        "p50_us": percentile(samples, 0.50),
        "p99_us": percentile(samples, 0.99),
        "mean_us": statistics.fmean(samples),
    }


async def bench_client_down(calls: int, max_pending: int) -> dict[str, float]:
    """Client with nobody listening: record cost and the memory its full queue holds."""
    client = UsageStatsClient("http://127.0.0.1:9", max_pending=max_pending)
    tracemalloc.start()
    samples: list[float] = []
    clock = time.perf_counter_ns
    for i in range(calls):
        name, meta = CALLS[i % len(CALLS)]
        start = clock()
        client.record(name, meta)
        samples.append((clock() - start) / 1000)
    queued_bytes, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await client.stop(drain_timeout=0.5)
    return {
        "calls": calls,
        "pending": client.pending,
        "dropped": client.counters.dropped_full,
        "p50_us": percentile(samples, 0.50),
        "p99_us": percentile(samples, 0.99),
        "queue_mb": queued_bytes / 2**20,
    }


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run both and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--max-pending", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        results = {
            "drop-in await record_event": asyncio.run(bench_dropin(Path(folder), args.calls)),
            "client.record, service down": asyncio.run(
                bench_client_down(args.calls, args.max_pending)
            ),
        }
    print("| benchmark | result |\n|---|---|")
    for name, values in results.items():
        shown = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
        )
        print(f"| {name} | {shown} |")
    return results


if __name__ == "__main__":
    main()
