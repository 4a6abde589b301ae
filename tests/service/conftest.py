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


async def wait_until_serving(url: str, server: asyncio.Task[None]) -> None:
    """Wait until `url`/health answers 200; fail only when the server task ends first.

    No deadline: a loaded machine may take long to start a server, and a server that cannot
    start ends its task (whose error is raised here). pytest-timeout bounds a hang.
    """
    async with aiohttp.ClientSession() as session:
        while True:
            if server.done():
                server.result()
                raise RuntimeError(f"server for {url} stopped before it answered")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def served(app: Quart, host: str, port: int, connect_host: str) -> AsyncIterator[str]:
    """Serve `app` with hypercorn until the block ends; yields its URL once it answers."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve_app(app, host, port, stop.wait))
    url = f"http://{connect_host}:{port}"
    try:
        await wait_until_serving(url, task)
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


@contextlib.asynccontextmanager
async def running(
    config: ServiceConfig, connect_host: str = "127.0.0.1"
) -> AsyncIterator[RunningService]:
    """Serve `config` until the block ends; waits until /health answers."""
    app = create_app(config)
    async with served(app, config.host, config.port, connect_host) as url:
        yield RunningService(url=url, app=app, config=config)


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
