"""Ingest benchmark: POST /submit over real HTTP, SQLite and PostgreSQL, 1 or more workers.

    .venv/bin/python benchmarks/aggregation_ingest.py              # short run (~3 minutes)
    .venv/bin/python benchmarks/aggregation_ingest.py --full       # 3 repeats, longer runs
    .venv/bin/python benchmarks/aggregation_ingest.py --backend sqlite --workers 1  # CPU table
Prints Markdown tables for docs/BENCHMARKS.md.

The load comes from benchmarks/loadgen.py in its own process (uvloop, pre-built requests,
about 0.1 ms of CPU per request), because it shares the machine's cores with the server.
Every submission is a new installation's report, so every answer is a durable 201. The
server's CPU time (utime + stime of its processes, from /proc) is read before and after each
run; the load average beside it says how busy the machine was. When `wrk` is installed
(`apt-get install wrk`), one more run measures the ceiling with a load generator written in
C (benchmarks/wrk_submit.lua posts distinct reports); and an idle server's CPU and memory
are measured over `--idle-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation_common import Postgres, Server, payload

from benchmarks.quantiles import percentile

_COUNTER = itertools.count()
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_submit.lua"


@dataclass
class Run:
    """One load against one server: rates, latency quantiles (ms), errors, server CPU."""

    rate: float
    p50: float
    p99: float
    max: float
    errors: dict[str, int]
    resent: int
    cpu_ms: float
    load_average: float = 0.0  # the machine's 1-minute load average at the run's end


def write_bodies(path: Path, count: int) -> None:
    """`count` reports of installations never seen before, one JSON body per line."""
    write_week(path, [next(_COUNTER) for _ in range(count)], weeks_ago=0)


def write_week(path: Path, installations: Iterable[int], weeks_ago: int) -> None:
    """The reports of installations number `installations` for the week `weeks_ago` back."""
    with path.open("w") as out:
        for i in installations:
            out.write(json.dumps(payload(i, weeks_ago), separators=(",", ":")) + "\n")


def load(server: Server, bodies: Path, *args: str) -> Run:
    """Run the load generator once; the server's CPU time is read around it."""
    out = bodies.with_suffix(".result.json")
    cpu = server.cpu_seconds()
    done = subprocess.run(
        [sys.executable, str(LOADGEN), server.url, str(bodies), str(out), *args],
        capture_output=True,
        check=False,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-2000:]}\n{server.log_tail()}")
    cpu_used = server.cpu_seconds() - cpu
    result = json.loads(out.read_text())
    latencies: list[float] = result["latencies"]
    errors = {status: n for status, n in result["statuses"].items() if status != "201"}
    return Run(
        rate=len(latencies) / result["elapsed"],
        p50=percentile(latencies, 0.5) * 1000,
        p99=percentile(latencies, 0.99) * 1000,
        max=max(latencies) * 1000,
        errors=errors,
        resent=result["resent"],
        cpu_ms=cpu_used / len(latencies) * 1000,
        load_average=os.getloadavg()[0],
    )


def load_wrk(server: Server, bodies: Path, connections: int, seconds: float) -> Run:
    """One `wrk` run (C, one thread) posting the distinct reports of `bodies`."""
    cpu = server.cpu_seconds()
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "-s",
            str(WRK_SCRIPT),
            server.url,
            "--",
            str(bodies),
            "1",
        ],
        capture_output=True,
        check=False,
        text=True,
    )
    cpu_used = server.cpu_seconds() - cpu
    if done.returncode:
        raise RuntimeError(
            f"wrk failed:\n{done.stdout[-1000:]}{done.stderr[-1000:]}\n{server.log_tail()}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    answered = result["created"] + result["other"]
    errors = {"other": result["other"]} if result["other"] else {}
    if result["socket_errors"]:
        errors["0"] = result["socket_errors"]
    return Run(
        rate=answered / result["seconds"],
        p50=result["p50_ms"],
        p99=result["p99_ms"],
        max=result["max_ms"],
        errors=errors,
        resent=0,
        cpu_ms=cpu_used / max(answered, 1) * 1000,
        load_average=os.getloadavg()[0],
    )


async def idle_row(name: str, make_url: Callable[[], str], workers: int, seconds: float) -> str:
    """CPU share and resident memory of a started, warmed-up server that gets no requests."""
    server = Server(make_url(), WORKERS=str(workers))
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            warm = Path(tmp_name) / "warm.jsonl"
            write_bodies(warm, 300)
            load(server, warm, "--concurrency", "8")
        await asyncio.sleep(2)  # the request log and the last checkpoint settle
        cpu, started = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        share = (server.cpu_seconds() - cpu) / (time.monotonic() - started) * 100
        rss = server.rss_mb()
    finally:
        server.stop()
    return (
        f"| {name} | {workers} | idle, {seconds:.0f} s | | | | | | | "
        f"{share:.2f} % CPU, {rss:.0f} MB RSS | {os.getloadavg()[0]:.1f} |"
    )


def median_run(runs: list[Run]) -> Run:
    """The run with the median throughput (its latencies belong to it)."""
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[len(ordered) // 2]


def row(name: str, workers: int, what: str, requests: str, runs: list[Run]) -> str:
    best = median_run(runs)
    spread = (
        f" ({min(r.rate for r in runs):.0f}-{max(r.rate for r in runs):.0f})"
        if len(runs) > 1
        else ""
    )
    return (
        f"| {name} | {workers} | {what} | {requests} | {best.rate:.0f}{spread} | "
        f"{best.p50:.1f} | {best.p99:.1f} | {best.max:.0f} | {describe_errors(runs)} | "
        f"{best.cpu_ms:.2f} | {best.load_average:.1f} |"
    )


def describe_errors(runs: list[Run]) -> str:
    """Non-201 answers of every run by status (0: connection broken) and keep-alive resends."""
    errors: dict[str, int] = {}
    for run in runs:
        for status, n in run.errors.items():
            errors[status] = errors.get(status, 0) + n
    text = str(sum(errors.values()))
    if errors:
        text += " (" + ", ".join(f"{s}: {n}" for s, n in sorted(errors.items())) + ")"
    resent = sum(run.resent for run in runs)
    if resent:
        text += f", {resent} resent"
    return text


async def run_backend(
    name: str, make_url: Callable[[], str], workers: int, args: argparse.Namespace, tmp: Path
) -> list[str]:
    rows = []
    peak_rss: list[float] = []
    ceilings: list[Run] = []
    levels = [("closed", c) for c in args.concurrency] + [("open", args.rate)]
    if shutil.which("wrk") and args.wrk_seconds:
        levels.append(("wrk", args.wrk_connections))
    for kind, level in levels:
        runs = []
        if kind == "wrk":
            # Enough distinct reports for twice the best closed-loop rate seen so far.
            requests = int(args.wrk_seconds * max(4000, 2 * max(r.rate for r in ceilings)))
            what, load_args = f"wrk, c={level}, {args.wrk_seconds:.0f} s", []
        elif kind == "closed":
            requests = min(args.requests, 2000 * level)
            what, load_args = f"closed, c={level}", ["--concurrency", str(level)]
        else:
            requests = int(args.rate * args.seconds)
            what, load_args = f"open, {level} req/s", ["--rate", str(level)]
        for _ in range(args.repeat):
            server = Server(make_url(), WORKERS=str(workers))
            await server.start()
            try:
                warm = tmp / "warm.jsonl"
                write_bodies(warm, 300)
                load(server, warm, "--concurrency", "8")
                bodies = tmp / "bodies.jsonl"
                write_bodies(bodies, requests)
                if kind == "wrk":
                    runs.append(load_wrk(server, bodies, level, args.wrk_seconds))
                else:
                    runs.append(load(server, bodies, *load_args))
                peak_rss.append(server.peak_rss_mb())
            finally:
                server.stop()
        if kind == "closed":
            ceilings.extend(runs)
        rows.append(row(name, workers, what, "" if kind == "wrk" else str(requests), runs))
        print(rows[-1], flush=True)
    rows.append(f"| {name} | {workers} | peak server RSS | | {max(peak_rss):.0f} MB | | | | | | |")
    print(rows[-1], flush=True)
    if args.idle_seconds:
        rows.append(await idle_row(name, make_url, workers, args.idle_seconds))
        print(rows[-1], flush=True)
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 64]
    )
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--requests", type=int, default=10_000, help="per closed-loop run")
    parser.add_argument("--rate", type=int, default=500, help="open-loop arrival rate")
    parser.add_argument("--seconds", type=float, default=20, help="open-loop duration")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (median shown)")
    parser.add_argument(
        "--wrk-seconds", type=float, default=10, help="wrk's run (0: none; needs `wrk`)"
    )
    parser.add_argument("--wrk-connections", type=int, default=64)
    parser.add_argument("--idle-seconds", type=float, default=20, help="idle measure (0: none)")
    parser.add_argument("--full", action="store_true", help="30,000 requests, 60 s, 3 repeats")
    parser.add_argument("--pg-url", help="use this PostgreSQL instead of a throwaway one")
    args = parser.parse_args()
    if args.full:
        args.requests, args.seconds, args.repeat = 30_000, 60, 3
    rows = [
        "| backend | workers | load | requests | submissions/s | p50 ms | p99 ms | max ms "
        "| errors (all runs) | server CPU ms/req | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(rows), flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.backend in ("sqlite", "both"):
            files = itertools.count()
            for workers in args.workers:
                rows += await run_backend(
                    "SQLite", lambda: f"sqlite:///{tmp}/bench{next(files)}.db", workers, args, tmp
                )
        if args.backend in ("postgresql", "both"):
            pg = None
            base = args.pg_url
            if base is None:
                pg = Postgres()
                base = pg.start()
            try:
                for workers in args.workers:
                    rows += await run_backend(
                        "PostgreSQL",
                        lambda: pg.fresh_database() if pg else base,
                        workers,
                        args,
                        tmp,
                    )
            finally:
                if pg is not None:
                    pg.stop()
    print(f"\n(ran {time.perf_counter() - started:.0f} s)")
    print("\n## Aggregation ingest (copy into docs/BENCHMARKS.md)\n")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
