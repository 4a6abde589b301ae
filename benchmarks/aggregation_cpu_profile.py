"""Where the aggregation server's CPU goes per submission: per thread, and by function.

    .venv/bin/python benchmarks/aggregation_cpu_profile.py                 # c=1, 3,000 reports
    .venv/bin/python benchmarks/aggregation_cpu_profile.py --concurrency 64 --py-spy py-spy
    .venv/bin/python benchmarks/aggregation_cpu_profile.py --app server,quart,bare --repeat 3
    .venv/bin/python benchmarks/aggregation_cpu_profile.py --returning --repeat 3
    .venv/bin/python benchmarks/aggregation_cpu_profile.py --returning --pin --repeat 3

Starts `python -m aggregation` (SQLite, one worker), warms it up, sends distinct reports with
benchmarks/loadgen.py and prints each server thread's user and system CPU per submission
(from /proc/<pid>/task). With `--py-spy` (py-spy from PyPI, not a project dependency) it
also samples the threads holding the GIL and prints the functions by inclusive share. With
`--app` it measures, in turn, the server as shipped, POST /submit through Quart's own route,
and hypercorn alone answering it (benchmarks/serve_variant.py): each layer's share. The
timed reports are new installations' first ones; with `--returning` they are this week's
reports of installations whose last week's report was sent (untimed) before: the weekly case.
With `--pin` the server runs on CPU 0 and the load generator on CPU 1, as in the field.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation_common import Server
from aggregation_ingest import load, write_bodies, write_week

Ticks = dict[str, tuple[int, int]]
VARIANT = Path(__file__).resolve().parent / "serve_variant.py"
APPS = ("server", "quart", "bare")


def thread_ticks(pid: int) -> Ticks:
    """User and system clock ticks of every thread of `pid`, by thread id."""
    ticks = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        # The event loop runs on the main thread; the others are the SQLite connections'
        # threads (writer: the commits; reader: the checkpoints), named in py-spy's output.
        name = "event loop" if tid == str(pid) else "thread"
        ticks[f"{name} {tid}"] = (int(fields[11]), int(fields[12]))
    return ticks


def start_py_spy(py_spy: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` until interrupted (only the GIL holder: waits do not count)."""
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "400",
            "--format",
            "raw",
            "--output",
            str(out),
            "--threads",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_functions(raw: Path, count: int) -> list[tuple[float, str]]:
    """Functions by inclusive share of py-spy's samples (its `--format raw` output)."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        frames = {re.sub(r":\d+\)", ")", frame) for frame in stack.split(";")[1:]}
        for frame in frames:
            inclusive[frame] += int(samples)
    return [(n / max(total, 1) * 100, name) for name, n in inclusive.most_common(count)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--py-spy", help="path of the py-spy executable (sampling is off without)")
    parser.add_argument("--top", type=int, default=40, help="functions to print")
    parser.add_argument(
        "--app",
        type=lambda text: text.split(","),
        default=["server"],
        help="comma-separated, run in turn: server (as shipped), quart (POST /submit through "
        "Quart's route), bare (hypercorn reading the body and answering 201); see "
        "benchmarks/serve_variant.py",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds over --app (interleaved)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the server on CPU 0, the load generator on CPU 1 (as in the field, where the "
        "reports come from other machines and do not share the server's core and caches)",
    )
    parser.add_argument(
        "--returning",
        action="store_true",
        help="time this week's reports of installations that sent last week's (not new ones)",
    )
    args = parser.parse_args()
    unknown = set(args.app) - set(APPS)
    if unknown:
        parser.error(f"unknown --app {', '.join(sorted(unknown))} (choose from {', '.join(APPS)})")
    results: dict[str, list[float]] = {app: [] for app in args.app}
    for _ in range(args.repeat):
        for app in args.app:
            results[app].append(await profile(app, args))
    if args.repeat > 1:
        for app, values in results.items():
            values.sort()
            print(
                f"{app}, c={args.concurrency}: median {values[len(values) // 2]:.3f} ms CPU per "
                f"submission ({values[0]:.3f}-{values[-1]:.3f}, {len(values)} runs)"
            )


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` on `cpus` (threads started later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


async def profile(app: str, args: argparse.Namespace) -> float:
    """One server of kind `app` under load: prints its CPU split; its CPU ms per submission."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        command = ("-m", "aggregation") if app == "server" else (str(VARIANT), app)
        server = Server(f"sqlite:///{tmp}/profile.db", command=command, WORKERS="1")
        await server.start()
        assert server.proc is not None
        if args.pin:
            pin(server.proc.pid, {0})
            pin(os.getpid(), {1})  # the load generator, a child, inherits it
        try:
            write_bodies(tmp / "warm.jsonl", 300)
            load(server, tmp / "warm.jsonl", "--concurrency", "8")
            if args.returning:
                installations = range(1_000_000, 1_000_000 + args.requests)
                write_week(tmp / "earlier.jsonl", installations, weeks_ago=1)
                load(server, tmp / "earlier.jsonl", "--concurrency", "8")
                write_week(tmp / "bodies.jsonl", installations, weeks_ago=0)
            else:
                write_bodies(tmp / "bodies.jsonl", args.requests)
            spy = None
            if args.py_spy:
                spy = start_py_spy(args.py_spy, server.proc.pid, tmp / "raw.txt")
                await asyncio.sleep(2)  # py-spy attaches
            before = thread_ticks(server.proc.pid)
            run = load(server, tmp / "bodies.jsonl", "--concurrency", str(args.concurrency))
            after = thread_ticks(server.proc.pid)
            if spy is not None:
                spy.send_signal(2)
                spy.wait()
        finally:
            server.stop()
            if args.pin:
                pin(os.getpid(), set(range(os.cpu_count() or 1)))
        per_tick = 1000 / os.sysconf("SC_CLK_TCK") / args.requests
        print(
            f"{app}, c={args.concurrency}: {run.cpu_ms:.3f} ms CPU per submission, "
            f"{run.rate:.0f}/s, p50 {run.p50:.1f} ms, load average {run.load_average:.1f}"
            + (f", NOT 201: {run.errors}" if run.errors else ""),
            flush=True,
        )
        for thread, (user, system) in after.items():
            user0, system0 = before.get(thread, (0, 0))
            if (user, system) != (user0, system0):
                print(
                    f"  {thread}: user {(user - user0) * per_tick:.3f} ms, "
                    f"system {(system - system0) * per_tick:.3f} ms per submission"
                )
        if spy is not None and (tmp / "raw.txt").exists():
            print("functions by share of GIL-holding samples (inclusive):")
            for share, name in top_functions(tmp / "raw.txt", args.top):
                print(f"  {share:5.1f} %  {name}")
        return run.cpu_ms


if __name__ == "__main__":
    asyncio.run(main())
