"""Fixtures for the standalone service: the real app served by hypercorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from quart import Quart

from printernizer_usage_service.app import create_app
from printernizer_usage_service.config import ServiceConfig
from printernizer_usage_service.runtime import EXTENSION_KEY, Runtime
from printernizer_usage_service.server import free_port, serve_app

API = "/api/v1/usage-stats"


@dataclass
class RunningService:
    """A served app: its base URL, the app and its runtime (for looking behind the API)."""

    url: str
    app: Quart
    config: ServiceConfig

    @property
    def runtime(self) -> Runtime:
        value: Runtime = self.app.extensions[EXTENSION_KEY]
        return value

    def api(self, path: str) -> str:
        return f"{self.url}{API}{path}"


async def wait_until_serving(task: asyncio.Task[Any], health_url: str) -> None:
    """Return once `health_url` answers 200; raise at once if the server task ends instead.

    Event-driven, not time-boxed: a loaded machine only makes this slower (pytest's own
    timeout is the bound).
    """
    connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
    async with aiohttp.ClientSession(connector=connector) as session:
        while True:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped before it answered")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(health_url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving(
    app: Quart, host: str, port: int, connect_host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve `app` with hypercorn until the block ends; yields its base URL once it answers."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve_app(app, host, port, stop.wait))
    url = f"http://{connect_host}:{port}"
    try:
        await wait_until_serving(task, f"{url}/health")
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@contextlib.asynccontextmanager
async def running(
    config: ServiceConfig, connect_host: str = "127.0.0.1"
) -> AsyncIterator[RunningService]:
    """Serve `config` until the block ends; waits until /health answers."""
    app = create_app(config)
    async with serving(app, config.host, config.port, connect_host) as url:
        yield RunningService(url=url, app=app, config=config)


@contextlib.asynccontextmanager
async def aggregation_server(
    tmp_path: Path, connect_host: str = "127.0.0.1"
) -> AsyncIterator[tuple[str, Quart]]:
    """The real aggregation server on 127.0.0.1 (SQLite); yields its URL via `connect_host`."""
    aggregation_app = pytest.importorskip("aggregation.app")
    aggregation_settings = pytest.importorskip("aggregation.settings")
    port = free_port()
    settings = aggregation_settings.Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'aggregation.db'}",
            "API_KEY": "test-admin-key-123",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "REPORTS_DIR": str(tmp_path / "reports"),
            "SESSION_COOKIE_SECURE": "false",
        }
    )
    app = aggregation_app.create_app(settings)
    async with serving(app, "127.0.0.1", port, connect_host) as url:
        yield url, app


ServiceFactory = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def start_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Start services with config overrides; all are stopped at the end of the test."""
    stack = contextlib.AsyncExitStack()
    count = 0

    async def start(
        connect_host: str = "127.0.0.1", *, defaults: bool = False, **overrides: Any
    ) -> RunningService:
        """With `defaults` only what a user who passes no flags gets, plus `overrides`."""
        nonlocal count
        count += 1
        values: dict[str, Any] = {"port": free_port(), "data_dir": tmp_path / f"data{count}"}
        if not defaults:
            values |= {
                "host": "127.0.0.1",
                "submit": False,
                "app_version": "1.6.0",
                "environ": {},
                "time_zone": "Europe/Berlin",
            }
        values.update(overrides)
        config = ServiceConfig().with_overrides(**values)
        return await stack.enter_async_context(running(config, connect_host))

    async with stack:
        yield start


@pytest.fixture
async def svc(start_service: ServiceFactory) -> RunningService:
    """One service on loopback with sending switched off."""
    return await start_service()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client."""
    async with aiohttp.ClientSession() as session:
        yield session
