"""`python -m aggregation` / `printernizer-aggregation`: serve the app with hypercorn."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from email.utils import formatdate

from hypercorn.asyncio import serve
from hypercorn.config import Config

from .settings import Settings, SettingsError

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


async def _serve(settings: Settings) -> None:
    from .app import create_app

    app = create_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, hypercorn_config(settings), shutdown_trigger=stop.wait)


def main() -> None:
    """Console-script entry point."""
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        print(f"printernizer-aggregation: configuration error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.workers > 1:
        # Several processes share the database (writes are serialised per transaction and
        # the per-installation rate limit lives in the database), so this scales across cores.
        from hypercorn.run import run

        config = hypercorn_config(settings)
        config.application_path = "aggregation.asgi:app"
        config.workers = settings.workers
        raise SystemExit(run(config))
    asyncio.run(_serve(settings), loop_factory=uvloop.new_event_loop if uvloop else None)


if __name__ == "__main__":
    main()
