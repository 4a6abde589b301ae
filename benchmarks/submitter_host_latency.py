"""Host latency benchmark: record_event while the submitter talks to a slow or busy server.

    .venv/bin/python benchmarks/submitter_host_latency.py
Prints a Markdown table (record_event latency percentiles, event-loop lag) for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.submitter import Submitter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quantiles import percentile  # noqa: E402
from tests.core.submitter_helpers import Scripted, SimServer  # noqa: E402

EVENTS = 20_000


def _percentiles(samples: list[float]) -> tuple[float, float, float, float]:
    return (
        percentile(samples, 0.5),
        percentile(samples, 0.99),
        percentile(samples, 0.999),
        max(samples),
    )


async def _measure(service: UsageStatsService) -> tuple[list[float], float]:
    """record_event latencies (µs) and the worst event-loop lag (ms) while recording."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - started - 0.005) * 1000)

    probe_task = asyncio.create_task(probe())
    samples: list[float] = []
    for i in range(EVENTS):
        started = time.perf_counter()
        service.record_event("job_completed", {"printer_type": "bambu_lab"})
        samples.append((time.perf_counter() - started) * 1e6)
        if i % 200 == 0:
            await asyncio.sleep(0)
    stop.set()
    await probe_task
    return samples, max(lags, default=0.0)


async def _scenario(name: str, script: list[Scripted], tmp: Path) -> str:
    sim = SimServer()
    await sim.start()
    sim.script.extend(script)
    service = UsageStatsService(tmp / f"{name}.db", app_version="2.4.0", environ={})
    await service.start()
    submitter = Submitter(service, default_endpoint=sim.url, timeout=10.0, min_sleep=0.01)
    try:
        if script:
            await service.opt_in()
            await submitter.start()
            await asyncio.wait_for(sim.received.wait(), 5)
        samples, lag = await _measure(service)
    finally:
        for step in script:
            if step.gate is not None:
                step.gate.set()
        await submitter.stop()
        await service.stop()
        await sim.stop()
    p50, p99, p999, worst = _percentiles(samples)
    return f"| {name} | {p50:.1f} | {p99:.1f} | {p999:.1f} | {worst:.0f} | {lag:.1f} |"


async def main() -> None:
    """Run the scenarios and print the table."""
    rows = ["| scenario | p50 µs | p99 µs | p99.9 µs | max µs | worst loop lag ms |"]
    rows.append("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(await _scenario("idle (not opted in)", [], Path(tmp)))
        rows.append(
            await _scenario(
                "server stalls a submission", [Scripted(gate=asyncio.Event())], Path(tmp)
            )
        )
        rows.append(
            await _scenario(
                "server answers 429 Retry-After",
                [Scripted(delay=0.5, status=429, headers={"Retry-After": "60"})],
                Path(tmp),
            )
        )
    print(f"record_event latency, {EVENTS} events per scenario\n")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
