"""A real aggregation server with chosen settings (a submit key, say), for single tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


@asynccontextmanager
async def serve_aggregation(tmp_path: Path, **changes: Any) -> AsyncIterator[tuple[int, Path]]:
    """Quart on hypercorn on 127.0.0.1 with `changes` to its settings; yields (port, db file).

    Needs the `socket_enabled` fixture (Home Assistant tests allow no sockets by default).
    The listening socket is opened here and handed to hypercorn, so the server is reachable
    from the start (connections wait in the backlog): no polling, no port race.
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from aggregation.app import create_app
    from aggregation.settings import Settings

    db_file = tmp_path / "aggregation-keyed.db"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = int(listener.getsockname()[1])
    settings = Settings(
        **{
            "database_url": f"sqlite:///{db_file}",
            "host": "127.0.0.1",
            "port": port,
            "address_rate_limit_per_minute": 0,
            "reports_dir": str(tmp_path / "reports"),
            "report_schedule": "off",
            "log_level": "WARNING",
            "session_cookie_secure": False,
            **changes,
        }
    )
    app = create_app(settings)
    config = Config()
    # hypercorn takes the socket over (and closes it at shutdown).
    config.bind = [f"fd://{listener.detach()}"]
    config.accesslog = None
    config.errorlog = None
    shutdown = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
    try:
        yield port, db_file
    finally:
        shutdown.set()
        await asyncio.wait_for(task, timeout=30)
