"""How the server runs under hypercorn: its configuration and its worker processes.

Everything here is importable, so that spawned worker processes can unpickle it.
"""

from __future__ import annotations

import signal
import sys
import time
from email.utils import formatdate
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event
from typing import Any

from hypercorn.asyncio.run import asyncio_worker, uvloop_worker
from hypercorn.config import Config, Sockets
from hypercorn.utils import LifespanFailureError

from .settings import Settings

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop has no Windows build; plain asyncio then
    uvloop = None  # type: ignore[assignment]


class ServerConfig(Config):
    """Hypercorn's Config with the Date header formatted once a second, not per response.

    Hypercorn formats the date for every response (about 2.5 % of its own cost per request,
    docs/BENCHMARKS.md); the header only has one-second resolution anyway.
    """

    include_date_header = False  # added below instead, from the per-second cache
    _date: tuple[int, bytes] = (-1, b"")

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        """The Date header (cached for the current second), then hypercorn's own."""
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, formatdate(second, usegmt=True).encode("ascii"))
        return [(b"date", self._date[1]), *super().response_headers(protocol)]


def hypercorn_config(settings: Settings) -> Config:
    """Hypercorn settings: our own request log replaces its access log (which has addresses)."""
    config = ServerConfig()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = settings.log_level
    config.graceful_timeout = 10
    # Also the deadline for a request's headers (hypercorn's idle timer runs until they are
    # in); its body has BODY_TIMEOUT_SECONDS (fastpath.py, Quart's BODY_TIMEOUT). read_timeout
    # stays None: it would also close a connection whose client waits for a slow answer.
    config.keep_alive_timeout = 30
    config.include_server_header = False  # no need to tell the world which server this is
    # uvloop halves hypercorn's own cost per request (docs/BENCHMARKS.md).
    config.worker_class = "uvloop" if uvloop is not None else "asyncio"
    return config


def startup_failed(err: LifespanFailureError) -> None:
    """Say on one line why the server could not start, and end with status 1."""
    print(f"printernizer-aggregation: could not start: {err}", file=sys.stderr)
    raise SystemExit(1)


def _worker(config: Config, sockets: Sockets, shutdown_event: Event) -> None:
    """One worker process: serve until told to stop; a failed start-up ends it with 1."""
    serve = uvloop_worker if config.worker_class == "uvloop" else asyncio_worker
    try:
        serve(config, sockets, shutdown_event)
    except LifespanFailureError as err:
        startup_failed(err)


def run_workers(config: Config) -> int:
    """Serve with `config.workers` processes on shared sockets; the whole server's exit status.

    Hypercorn's own multi-process runner reports 0 when a worker fails its start-up (it
    replaces the failed worker's status with those of the others it then stops), so Docker
    or a supervisor would not restart a server that never served. Here the first worker to
    end stops the others, and the server ends with the first non-zero status.
    """
    sockets = config.create_sockets()
    context = get_context("spawn")
    shutdown_event = context.Event()
    # Workers inherit "ignore SIGINT", so Ctrl-C in a terminal stops them only through the
    # shutdown event, gracefully.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    processes = [
        context.Process(
            target=_worker,
            kwargs={"config": config, "sockets": sockets, "shutdown_event": shutdown_event},
        )
        for _ in range(config.workers)
    ]
    for process in processes:
        process.start()

    def shutdown(*_: Any) -> None:
        shutdown_event.set()

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    status = 0
    running = list(processes)
    while running:
        wait([process.sentinel for process in running])
        for process in [p for p in running if p.exitcode is not None]:
            running.remove(process)
            shutdown_event.set()  # one worker fewer is a different server: stop them all
            code = process.exitcode or 0
            if code and not status:
                status = code if code > 0 else 128 - code  # killed by a signal: 128 + its number
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
        sock.close()
    return status
