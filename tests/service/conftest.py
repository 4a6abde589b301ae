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


@contextlib.asynccontextmanager
async def running(
    config: ServiceConfig, connect_host: str = "127.0.0.1"
) -> AsyncIterator[RunningService]:
    """Serve `config` until the block ends; waits until /health answers."""
    app = create_app(config)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_app(app, config.host, config.port, stop.wait))
    url = f"http://{connect_host}:{config.port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            if task.done():
                task.result()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/health") as response:
                    if response.status == 200 and (await response.json())["status"] == "ok":
                        break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("service did not start")
    try:
        yield RunningService(url=url, app=app, config=config)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


ServiceFactory = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def start_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Start services with config overrides; all are stopped at the end of the test."""
    stack = contextlib.AsyncExitStack()
    count = 0

    async def start(connect_host: str = "127.0.0.1", **overrides: Any) -> RunningService:
        nonlocal count
        count += 1
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": free_port(),
            "data_dir": tmp_path / f"data{count}",
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
