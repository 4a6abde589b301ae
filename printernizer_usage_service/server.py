"""Serving an app with hypercorn from Python (the CLI, the demo stack and the tests use it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# Hypercorn's default access line starts with the client's address and ends with its
# referrer and user agent; ours says what was asked (no query string) and answered, never who
# asked. The time stamp comes from the log format, like every other line.
ACCESS_LOG_FORMAT = '"%(r)s" %(s)s %(b)s %(D)sus'


def hypercorn_config(host: str, port: int, *, access_log: bool = False) -> Config:
    """A hypercorn config bound to host:port with short graceful shutdown."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = 3
    # Our loggers, not hypercorn's own stream handlers: each line is written once, in the
    # format and at the level the command line set up.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.accesslog = None
    if access_log:
        config.accesslog = logging.getLogger("hypercorn.access")
        config.accesslog.setLevel(logging.INFO)  # asked for, so shown at any --log-level
    config.access_log_format = ACCESS_LOG_FORMAT
    return config


async def serve_app(
    app: Quart,
    host: str,
    port: int,
    shutdown_trigger: Callable[..., Awaitable[object]],
    *,
    access_log: bool = False,
) -> None:
    """Serve until `shutdown_trigger` returns."""
    await serve(
        app,
        hypercorn_config(host, port, access_log=access_log),
        shutdown_trigger=shutdown_trigger,
    )


def install_stop_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGINT/SIGTERM (Ctrl-C and `docker stop`)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-POSIX loops
            loop.add_signal_handler(sig, stop.set)
