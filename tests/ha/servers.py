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
    """Quart on hypercorn on 127.0.0.1 (and ::1) with `changes` to its settings; yields (port, db file).

    Needs the `socket_enabled` fixture (Home Assistant tests allow no sockets by default).
    The listening socket is opened here and handed to hypercorn, so the server is reachable
    from the start (connections wait in the backlog): no polling, no port race.
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from aggregation.app import create_app
    from aggregation.settings import Settings

    db_file = tmp_path / "aggregation.db"
    listeners = [socket.socket()]
    listeners[0].bind(("127.0.0.1", 0))
    port = int(listeners[0].getsockname()[1])
    # `localhost` may resolve to ::1 first: listen there too where this machine has it.
    try:
        ipv6 = socket.socket(socket.AF_INET6)
        ipv6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        ipv6.bind(("::1", port))
        listeners.append(ipv6)
    except OSError:
        ipv6.close()
    for listener in listeners:
        listener.listen(128)
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
    # hypercorn takes the sockets over (and closes them at shutdown).
    config.bind = [f"fd://{listener.detach()}" for listener in listeners]
    config.accesslog = None
    config.errorlog = None
    shutdown = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
    try:
        yield port, db_file
    finally:
        shutdown.set()
        await asyncio.wait_for(task, timeout=30)
