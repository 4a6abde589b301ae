"""Hypercorn configuration of the server (importable, so worker processes can unpickle it)."""

from __future__ import annotations

import time
from email.utils import formatdate

from hypercorn.config import Config

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
    config.keep_alive_timeout = 30
    config.include_server_header = False  # no need to tell the world which server this is
    # uvloop halves hypercorn's own cost per request (docs/BENCHMARKS.md).
    config.worker_class = "uvloop" if uvloop is not None else "asyncio"
    return config
