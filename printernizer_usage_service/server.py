"""Serving an app with hypercorn from Python (the CLI, the demo stack and the tests use it)."""

from __future__ import annotations

import asyncio
import contextlib
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


def hypercorn_config(host: str, port: int, *, access_log: bool = False) -> Config:
    """A hypercorn config bound to host:port with short graceful shutdown."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = 3
    config.accesslog = "-" if access_log else None
    config.errorlog = "-"
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
