"""Shared pieces of the aggregation benchmarks: payloads, a throwaway PostgreSQL, the server."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from printernizer_usage_core.models import (
    AggregatedStats,
    InstallationInfo,
    PrinterFleetStats,
    PrinterType,
    TimePeriod,
    UsageStats,
    submission_id_for,
)

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "benchmark-admin-key"
VERSIONS = ["2.0.0", "2.0.1", "2.1.0", "2.1.1", "2.2.0"]
MODES = ["homeassistant", "docker", "pi", "standalone"]
COUNTRIES = ["DE", "US", "GB", "FR", "NL", "AT", "CH", "PL", "IT", "ES"]
FEATURES = ["auto_job_creation", "library", "timelapse", "notifications", "ams_tracking"]
ERRORS = ["TimeoutError", "ConnectionError", "ValueError", "MqttError"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_stats(i: int, weeks_ago: int = 0, today: date | None = None) -> AggregatedStats:
    """A realistic, varied, valid report for installation number i."""
    end = (today or datetime.now(UTC).date()) - timedelta(days=7 * weeks_ago)
    period = TimePeriod.from_days(end - timedelta(days=7), end)
    iid = uuid.UUID(int=(i * 2654435761 + 12345) % (1 << 122) | (4 << 76) | (1 << 63))
    return AggregatedStats(
        submission_id=submission_id_for(iid, period),
        consent_version="2026-11",
        installation=InstallationInfo(
            installation_id=iid,
            first_seen=period.start,
            app_version=VERSIONS[(i + weeks_ago) % len(VERSIONS)],
            python_version="3.12.4",
            platform="linux",
            deployment_mode=MODES[i % len(MODES)],  # type: ignore[arg-type]
            country_code=COUNTRIES[i % len(COUNTRIES)],
        ),
        period=period,
        printer_fleet=PrinterFleetStats.from_counts(
            {PrinterType.BAMBU_LAB: 1 + i % 3, PrinterType.PRUSA_CORE: i % 2}
        ),
        usage_stats=UsageStats(
            job_count=i % 40,
            feature_usage={f: (i + n) % 3 != 0 for n, f in enumerate(FEATURES)},
        ),
        error_summary={ERRORS[i % len(ERRORS)]: i % 5},
    )


def payload(i: int, weeks_ago: int = 0) -> dict[str, Any]:
    """Decoded JSON of make_stats(i)."""
    return make_stats(i, weeks_ago).model_dump(mode="json")


class Postgres:
    """initdb + pg_ctl in a temp dir on a free port (as `postgres` when run as root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin)")
        self.bindir = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="aggregation-bench-pg-"))
        self.port = free_port()
        self._databases = 0

    def _run(self, *cmd: str) -> None:
        args = list(cmd)
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        )
        # Durable settings (fsync on): the numbers must mean something in production.
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        return self.fresh_database()

    def fresh_database(self) -> str:
        """Create a new empty database; its URL."""
        self._databases += 1
        name = f"bench{self._databases}"
        self._run(
            str(self.bindir / "createdb"),
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop"
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Server:
    """The aggregation server as a subprocess (`python -m aggregation`)."""

    def __init__(
        self, database_url: str, *, command: Sequence[str] = ("-m", "aggregation"), **env: str
    ) -> None:
        self.command = list(command)  # what the Python interpreter runs: the server by default
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "API_KEY": ADMIN_KEY,
            "RATE_LIMIT_PER_HOUR": "1000",
            "ADDRESS_RATE_LIMIT_PER_MINUTE": "0",
            "LOG_LEVEL": "WARNING",
            "REPORT_SCHEDULE": "off",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        # The server's own output, kept so that a server that dies can say why.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    def launch(self) -> None:
        """Start the process (not waiting for it to be ready)."""
        self.proc = subprocess.Popen(
            [sys.executable, *self.command],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote, and its exit status if it has ended."""
        assert self.proc is not None
        self.log.seek(0)
        tail = self.log.read().decode(errors="replace").splitlines()[-lines:]
        status = self.proc.poll()
        state = "running" if status is None else f"exited with status {status}"
        return f"server {state}; its last output:\n" + "\n".join(tail)

    async def start(self) -> None:
        """Start and wait until /health answers."""
        self.launch()
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        raise RuntimeError(f"aggregation server did not start: {self.log_tail()}")

    def _pids(self) -> list[int]:
        """The server process and its workers (WORKERS > 1)."""
        assert self.proc is not None
        pids, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            except OSError:
                continue
            todo.extend(int(p) for p in text.split())
        return pids

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) summed over the server's processes."""
        return self._memory_mb("VmHWM:")

    def rss_mb(self) -> float:
        """Resident memory now (VmRSS) summed over the server's processes."""
        return self._memory_mb("VmRSS:")

    def _memory_mb(self, field: str) -> float:
        total = 0
        for pid in self._pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        return total / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far."""
        ticks = 0
        for pid in self._pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.log.close()
