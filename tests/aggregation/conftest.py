"""Fixtures for the aggregation server: settings, apps on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from quart import Quart
from quart.typing import TestClientProtocol

sys.path.insert(0, str(Path(__file__).parent))

from aggregation.app import create_app
from aggregation.dashboard.throttle import LoginLimits
from aggregation.settings import Settings

ADMIN_KEY = "test-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Wait until the server process answers 200 on /health; fail only when it has exited.

    No deadline: under load a start can take long, and a server that cannot start exits
    (its log is in the failure). pytest-timeout bounds a hang.
    """
    async with aiohttp.ClientSession() as session:
        while proc.poll() is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    tail = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"server exited with {proc.returncode} before it answered: {tail[-2000:]}")


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PgServer:
    """A throwaway PostgreSQL cluster in a temp dir (started by the test session)."""

    def __init__(self, root: Path) -> None:
        bindir = _pg_bin()
        assert bindir is not None
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.sock = root / "sock"
        self.port = free_port()
        self._counter = itertools.count()
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_root:
            # PostgreSQL refuses to run as root; run it as the unprivileged `postgres` user.
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.sock.mkdir(parents=True)
        if self._as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"agg_{os.getpid()}_{next(self._counter)}"
        self._run(
            str(self.bindir / "createdb"),
            "-h",
            str(self.sock),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (skips when PostgreSQL is not installed)."""
    if _pg_bin() is None:
        pytest.skip(
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb missing); "
            "install Debian's `postgresql` package (scripts/system-deps) to run these"
        )
    # Not under pytest's tmp dir: that one is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="aggregation-pg-"))
    server = PgServer(root)
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test using it runs against SQLite and against PostgreSQL."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh empty database of the current backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'aggregation.db'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for tests: admin key set, generous limits, no cookies over HTTPS only."""

    def factory(**changes: Any) -> Settings:
        base = Settings(
            database_url=database_url,
            api_key=ADMIN_KEY,
            rate_limit_per_hour=1000,
            address_rate_limit_per_minute=0,
            session_cookie_secure=False,
            reports_dir=str(tmp_path / "reports"),
            report_schedule="off",
            log_level="INFO",
        )
        return base.with_changes(**changes) if changes else base

    return factory


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[Quart]:
    """A serving app (storage open) on the current backend."""
    application = create_app(make_settings())
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    """Quart's test client for `app`."""
    return app.test_client()


@pytest.fixture
def away_from_window_edge() -> None:
    """Start a test that counts sign-in attempts well inside one throttle window.

    The limits count in fixed windows of the wall clock (15 minutes, aligned to the epoch),
    so a test that straddled an edge would find the count reset midway and see a 401 where
    it expects a 429.
    """
    window = LoginLimits().window_seconds
    left = window - time.time() % window
    if left < 60:
        time.sleep(left + 0.5)
