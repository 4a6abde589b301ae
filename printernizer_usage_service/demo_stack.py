"""`python -m printernizer_usage_service.demo_stack`: the whole round trip on one machine.

Starts a local aggregation server (SQLite under ./data) and this service pointing at it, gives
a fresh data folder demo history and a demo day of events (once), prints the URLs once both
servers answer and runs until Ctrl-C. `make run` runs it (ports: SERVICE_PORT, AGG_PORT).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from hypercorn.asyncio import serve
from printernizer_usage_core.privacy import EVENT_TYPES, sanitize_event
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.store import EventRow, UsageStore

from .app import create_app
from .config import ServiceConfig
from .runtime import EXTENSION_KEY, Runtime
from .server import hypercorn_config, install_stop_signals

_LOGGER = logging.getLogger(__name__)
DEMO_ADMIN_KEY = "demo-admin-key"
DEMO_APP_VERSION = "1.6.0"

# A believable day of a small print farm: what Printernizer would post to /events.
DEMO_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("app_start", {"app_version": DEMO_APP_VERSION, "deployment_mode": "standalone"}),
    ("printer_connected", {"printer_type": "bambu_lab"}),
    ("printer_connected", {"printer_type": "bambu_lab"}),
    ("printer_connected", {"printer_type": "prusa_core"}),
    ("job_created", {"printer_type": "bambu_lab"}),
    ("job_created", {"printer_type": "bambu_lab"}),
    ("job_created", {"printer_type": "prusa_core"}),
    ("job_completed", {"printer_type": "bambu_lab", "duration": 2 * 3600, "file_type": "3mf"}),
    ("job_completed", {"printer_type": "prusa_core", "duration": 5400, "file_type": "gcode"}),
    ("job_failed", {"printer_type": "bambu_lab", "error_type": "FilamentRunoutError"}),
    ("file_downloaded", {"printer_type": "bambu_lab", "file_type": "3mf", "file_size": 4 << 20}),
    ("file_uploaded", {"file_type": "stl", "file_size": 12 << 20, "source": "upload"}),
    ("error_occurred", {"error_type": "PrinterTimeout", "component": "printer"}),
    ("feature_enabled", {"feature": "auto_download"}),
    ("feature_enabled", {"feature": "timelapse"}),
]
DEMO_FLEET = {"bambu_lab": 2, "prusa_core": 1}


@dataclass(frozen=True, slots=True)
class StackOptions:
    """Where the two servers listen and keep their files."""

    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 8765
    server_port: int = 8080
    api_key: str = DEMO_ADMIN_KEY
    demo_data: bool = True
    with_server: bool = True


def aggregation_app(options: StackOptions) -> Any | None:
    """The aggregation server app, or None when that package is not installed."""
    try:
        from aggregation.app import create_app as create_aggregation_app
        from aggregation.settings import Settings
    except ImportError:
        return None
    db = (options.data_dir / "aggregation.db").resolve()
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{db}",
            "API_KEY": options.api_key,
            "HOST": options.host,
            "PORT": str(options.server_port),
            "DEMO_DATA": "true" if options.demo_data else "false",
            # Plain HTTP on 127.0.0.1: a Secure cookie would never come back.
            "SESSION_COOKIE_SECURE": "false",
            "REPORTS_DIR": str(options.data_dir / "reports"),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_HOUR": "1000",
        }
    )
    return create_aggregation_app(settings)


async def seed_history(db_path: Path, days: int = 21, seed: int = 6) -> int:
    """Give a fresh demo database three weeks of believable history (before the app opens it).

    Events pass the same privacy guard as live ones; only their day is in the past, so the
    chart and the first weekly report have something to show.
    """
    store = UsageStore(db_path)
    await store.open()
    try:
        if (await store.count_events())[0]:
            return 0
        rng = random.Random(seed)
        today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        rows: list[EventRow] = []
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            busy = 0.5 if day.weekday() >= 5 else 1.0
            for _ in range(round(rng.randint(2, 7) * busy) or 1):
                for kind, meta in DEMO_EVENTS[4:13]:
                    if rng.random() < 0.45 or kind == "job_completed":
                        clean = sanitize_event(kind, meta)
                        if clean is None:
                            continue
                        name, values = clean
                        key = EVENT_TYPES[name].dimension
                        dimension = str(values.get(key, "")) if key else ""
                        ts = (day + timedelta(minutes=rng.randint(-600, 600))).timestamp()
                        rows.append(EventRow(name, ts, values, dimension))
        return int(await store.insert_events(rows))
    finally:
        await store.close()


async def record_demo_events(service: UsageStatsService) -> int:
    """Record the demo day (through the same guard as the API) and a fleet snapshot."""
    accepted = sum(1 for kind, meta in DEMO_EVENTS if service.record_event(kind, meta))
    await service.set_printer_fleet(DEMO_FLEET)
    await service.flush()
    return accepted


def banner(options: StackOptions, server_running: bool) -> str:
    """What the user should open."""
    service_url = f"http://{options.host}:{options.port}"
    lines = [
        "",
        "Printernizer usage statistics: demo stack is running",
        "",
        f"  Your privacy settings and statistics   {service_url}/",
        f"  Service API docs                       {service_url}/docs",
    ]
    if server_running:
        server_url = f"http://{options.host}:{options.server_port}"
        lines += [
            f"  Aggregation server dashboard           {server_url}/dashboard",
            f"  Dashboard / admin API key              {options.api_key}",
            "",
            "  Click 'Share anonymous statistics' on the page: the first report goes to the",
            "  local aggregation server at once ('Send report now' repeats it).",
        ]
    else:
        lines += ["", "  (aggregation server not installed: only the local service runs)"]
    lines += [f"  Data folder                            {options.data_dir.resolve()}", ""]
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


class PortTakenError(OSError):
    """A port of the demo stack is in use; the message names it and how to pick another."""


# Which port is which, and how `make run` and this module's flags choose it.
_PORT_CHOICE = {
    "service": ("SERVICE_PORT", "--port"),
    "aggregation server": ("AGG_PORT", "--server-port"),
}


def listen_socket(host: str, port: int, role: str) -> socket.socket:
    """A socket listening on host:port, or PortTakenError naming the port and the way out.

    Both sockets listen before either server starts, so a taken port stops the stack before
    anything runs, and a client connecting after the banner waits in the backlog instead of
    being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        variable, flag = _PORT_CHOICE[role]
        raise PortTakenError(
            err.errno,
            f"cannot listen on {host}:{port} for the {role}: {err.strerror}. "
            f"Choose another port: `make run {variable}=<port>` "
            f"(or `python -m printernizer_usage_service.demo_stack {flag} <port>`).",
        ) from None
    return sock


async def _serve(app: Any, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve `app` with hypercorn on an already listening socket until `stop` is set."""
    config = hypercorn_config(*sock.getsockname()[:2])
    # Hypercorn takes the descriptor over (and closes it at shutdown).
    config.bind = [f"fd://{sock.detach()}"]
    # The logger itself, not "-": with "-" hypercorn adds its own stream handler on top of
    # the root logger's, and every line appeared twice.
    config.errorlog = logging.getLogger("hypercorn.error")
    await serve(app, config, shutdown_trigger=stop.wait)


async def _answers(url: str) -> None:
    """Return once `url` answers 200 (the request waits in the listen backlog until then)."""
    connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
    timeout = aiohttp.ClientTimeout(total=None)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.get(url) as response,
    ):
        response.raise_for_status()


async def run_stack(
    options: StackOptions, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    """Serve both apps until `stop` is set; `ready` is set once both answer."""
    server_app = aggregation_app(options) if options.with_server else None
    sockets = [("service", listen_socket(options.host, options.port, "service"))]
    try:
        if server_app is not None:
            sockets.append(
                (
                    "aggregation server",
                    listen_socket(options.host, options.server_port, "aggregation server"),
                )
            )
    except PortTakenError:
        sockets[0][1].close()
        raise
    options.data_dir.mkdir(parents=True, exist_ok=True)
    (options.data_dir / "service").mkdir(exist_ok=True)
    # A fresh database gets three weeks of history and the demo day, once: a restart keeps
    # what is there (it added the demo day again on every start).
    seeded = await seed_history(options.data_dir / "service" / "usage.db")
    if seeded:
        _LOGGER.info("seeded %d demo events of history", seeded)
    endpoint = f"http://{options.host}:{options.server_port}" if server_app is not None else None
    config = ServiceConfig().with_overrides(
        host=options.host,
        port=options.port,
        data_dir=options.data_dir / "service",
        endpoint=endpoint,
        app_version=DEMO_APP_VERSION,
        submit=server_app is not None,
    )
    app = create_app(config)
    apps = {"service": app, "aggregation server": server_app}
    tasks = [asyncio.create_task(_serve(apps[role], sock, stop)) for role, sock in sockets]

    async def demo() -> None:
        runtime: Runtime = app.extensions[EXTENSION_KEY]
        await runtime.started.wait()
        if seeded:
            count = await record_demo_events(runtime.service)
            _LOGGER.info("recorded %d demo events", count)
        # Both answer: the banner never points at a server that is not serving yet.
        await asyncio.gather(
            _answers(f"http://{options.host}:{options.port}/health"),
            *(
                [_answers(f"http://{options.host}:{options.server_port}/health")]
                if server_app is not None
                else []
            ),
        )
        print(banner(options, server_app is not None), flush=True)
        if ready is not None:
            ready.set()

    demo_task = asyncio.create_task(demo())
    try:
        done, _ = await asyncio.wait([*tasks, demo_task], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a server that stopped by itself, or a failed start: show why
        if demo_task in done:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task.done():
                    task.result()
    finally:
        stop.set()
        demo_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await demo_task
        await asyncio.gather(*tasks, return_exceptions=True)


def build_parser() -> argparse.ArgumentParser:
    """Flags of the demo stack."""
    parser = argparse.ArgumentParser(
        prog="python -m printernizer_usage_service.demo_stack",
        description="Run this service and a local aggregation server together (a full "
        "round trip on one machine). `make run` runs this; choose its ports with "
        "`make run SERVICE_PORT=<port> AGG_PORT=<port>`.",
    )
    parser.add_argument("--data-dir", default="./data", help="folder for both SQLite files")
    parser.add_argument(
        "--port", type=int, default=8765, help="port of this service (make run: SERVICE_PORT)"
    )
    parser.add_argument(
        "--server-port",
        type=int,
        default=8080,
        help="port of the aggregation server (make run: AGG_PORT)",
    )
    parser.add_argument("--api-key", default=DEMO_ADMIN_KEY, help="aggregation admin key")
    parser.add_argument(
        "--no-demo-data",
        action="store_true",
        help="start the aggregation server with an empty database (the service still gets "
        "its demo history on a fresh data folder)",
    )
    parser.add_argument(
        "--service-only", action="store_true", help="do not start the aggregation server"
    )
    return parser


async def _main(options: StackOptions) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    await run_stack(options, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = StackOptions(
        data_dir=Path(args.data_dir),
        port=args.port,
        server_port=args.server_port,
        api_key=args.api_key,
        demo_data=not args.no_demo_data,
        with_server=not args.service_only,
    )
    try:
        asyncio.run(_main(options))
    except KeyboardInterrupt:
        pass
    except OSError as err:
        detail = err.strerror if isinstance(err, PortTakenError) else str(err)
        print(f"demo stack: {detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
