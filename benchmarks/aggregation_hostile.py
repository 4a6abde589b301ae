"""Responsiveness under hostile bodies: /health and a valid /submit while 16 KiB attacks arrive.

Issue 16 measured /health at 6.8 s while four 16 KiB bodies were being checked. Several
senders post hostile bodies (long runs and alternations that drive the privacy detectors,
and bodies with thousands of strings) back to back; meanwhile a prober times /health and
valid submissions. `python benchmarks/aggregation_hostile.py` prints the Markdown table.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.__main__ import machine
from benchmarks.aggregation_common import Server, payload
from benchmarks.quantiles import percentile

BODY_BYTES = 16_384
# Shapes that cost the privacy detectors the most per character (issue 16), as runs.
UNITS = ("-", "a.", "1.", "a-", ":", "/", "\\\\", "a", "a_", "@a", "1:")


def _fit(make: object) -> bytes:
    """The largest body `make(n)` builds that stays within BODY_BYTES."""
    low, high = 1, BODY_BYTES
    while low < high:
        mid = (low + high + 1) // 2
        if len(make(mid)) <= BODY_BYTES:  # type: ignore[operator]
            low = mid
        else:
            high = mid - 1
    return make(low)  # type: ignore[operator,no-any-return]


def hostile_bodies() -> list[bytes]:
    """16 KiB bodies, each a different way to make the checks work hard (all valid JSON)."""
    bodies = []
    for unit in UNITS:
        # One long string, as a value and as a key.
        bodies.append(_fit(lambda n, u=unit: b'{"x":"' + (u * n).encode() + b'"}'))
        bodies.append(_fit(lambda n, u=unit: b'{"' + (u * n).encode() + b'":1}'))
        # Many strings of the longest length a field may have, inside a real report.
        for length in (40, 150):

            def many(n: int, u: str = unit, size: int = length) -> bytes:
                report = payload(0)
                report["error_summary"] = {f"{(u * size)[: size - 4]}{i:04d}": 1 for i in range(n)}
                return json.dumps(report).encode()

            bodies.append(_fit(many))
    # Thousands of tiny distinct strings.
    bodies.append(_fit(lambda n: json.dumps([f"a{i}" for i in range(n)]).encode()))
    return bodies


@dataclass
class Probe:
    """Latencies (ms) of the prober's requests, and the statuses the hostile bodies got."""

    health_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    hostile_statuses: dict[int, int] = field(default_factory=dict)
    hostile_sent: int = 0
    submit_statuses: set[int] = field(default_factory=set)


async def probe_under_attack(
    url: str, *, senders: int = 4, rounds: int = 2, min_probes: int = 20
) -> Probe:
    """Send every hostile body `rounds` times from each of `senders` connections at once
    while timing /health and valid submissions one after another."""
    bodies = hostile_bodies()
    result = Probe()
    done = asyncio.Event()
    json_type = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def attack(offset: int) -> None:
            for i in range(rounds * len(bodies)):
                body = bodies[(i + offset) % len(bodies)]
                async with session.post(f"{url}/submit", data=body, headers=json_type) as answer:
                    await answer.read()
                    status = answer.status
                result.hostile_statuses[status] = result.hostile_statuses.get(status, 0) + 1
                result.hostile_sent += 1

        async def probe() -> None:
            while not done.is_set() or len(result.health_ms) < min_probes:
                started = time.perf_counter()
                async with session.get(f"{url}/health") as answer:
                    await answer.read()
                result.health_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                async with session.post(f"{url}/submit", json=payload(len(result.submit_ms))) as a:
                    await a.read()
                    result.submit_statuses.add(a.status)
                result.submit_ms.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.005)

        prober = asyncio.create_task(probe())
        await asyncio.gather(*(attack(k * 7) for k in range(senders)))
        done.set()
        await prober
    return result


def describe(name: str, probe: Probe) -> str:
    """One Markdown table row."""

    def cell(values: list[float]) -> str:
        return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f} / {max(values):.1f}"

    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(probe.hostile_statuses.items()))
    return (
        f"| {name} | {probe.hostile_sent} ({statuses}) | {len(probe.health_ms)} "
        f"| {cell(probe.health_ms)} | {cell(probe.submit_ms)} |"
    )


async def main() -> None:
    print(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.\n")
    print(f"{len(hostile_bodies())} hostile bodies of at most {BODY_BYTES} bytes, 4 senders\n")
    print(
        "| run | hostile bodies sent (statuses) | probes | /health p50 / p99 / max ms "
        "| valid /submit p50 / p99 / max ms |"
    )
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(f"sqlite:///{tmp}/hostile.db")
        await server.start()
        try:
            quiet = await probe_under_attack(server.url, senders=0)
            print(describe("no attack (SQLite)", quiet))
            print(describe("4 senders (SQLite)", await probe_under_attack(server.url)))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
