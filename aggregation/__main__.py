"""`python -m aggregation` / `printernizer-aggregation`: serve the app with hypercorn."""

from __future__ import annotations

import asyncio
import signal
import sys

from hypercorn.asyncio import serve
from hypercorn.utils import LifespanFailureError

from .serving import hypercorn_config, run_workers, startup_failed, uvloop
from .settings import Settings, SettingsError


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
        config = hypercorn_config(settings)
        config.application_path = "aggregation.asgi:app"
        config.workers = settings.workers
        raise SystemExit(run_workers(config))
    try:
        asyncio.run(_serve(settings), loop_factory=uvloop.new_event_loop if uvloop else None)
    except LifespanFailureError as err:
        startup_failed(err)


if __name__ == "__main__":
    main()
