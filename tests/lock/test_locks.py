"""The locks: the dev and runtime locks agree, and the locked resolver stack resolves localhost."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from importlib import metadata
from importlib.util import find_spec

import aiohttp
import aiohttp.resolver
import pytest

from tests.addon.pins import LOCK, RUN_LOCK, canonical, lock_pins, server_closure

# The packages that decide how aiohttp turns a host name into an address.
RESOLVER_STACK = ("aiohttp", "aiodns", "pycares", "aiohappyeyeballs")


def _loopback(addresses: list[dict[str, object]]) -> bool:
    return bool(addresses) and all(
        ipaddress.ip_address(str(entry["host"])).is_loopback for entry in addresses
    )


def test_the_venv_runs_the_locked_resolver_stack() -> None:
    # Otherwise the resolution tests below would test whatever happens to be installed.
    pins = lock_pins()
    for name in RESOLVER_STACK:
        if canonical(name) in pins:
            assert metadata.version(name) == pins[canonical(name)], f"{name} is not the lock's"


async def test_aiohttps_default_resolver_resolves_localhost() -> None:
    resolver = aiohttp.resolver.DefaultResolver()
    try:
        addresses = await resolver.resolve("localhost", 8080, family=socket.AF_INET)
    finally:
        await resolver.close()
    assert _loopback(addresses), addresses


@pytest.mark.skipif(find_spec("aiodns") is None, reason="aiodns is not in this environment")
async def test_aiodns_resolves_localhost() -> None:
    # aiohttp's AsyncResolver is aiodns on pycares: the pair Home Assistant's resolver uses too.
    resolver = aiohttp.resolver.AsyncResolver()
    try:
        addresses = await asyncio.wait_for(resolver.resolve("localhost", 8080), 30)
    finally:
        await resolver.close()
    assert _loopback(addresses), addresses


async def test_a_session_reaches_a_server_by_host_name() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://localhost:{port}/") as response,
        ):
            assert response.status == 204
    finally:
        server.close()
        await server.wait_closed()


def test_the_runtime_lock_is_the_dev_locks_server_closure() -> None:
    # One set of versions: `make run` and the images run what `make test` tested.
    dev, run = lock_pins(LOCK), lock_pins(RUN_LOCK)
    assert set(run) == server_closure(), "requirements/run.txt is stale: run `make lock`"
    assert {name: dev[name] for name in run} == run, "run.txt and lock.txt pin other versions"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "aggregation/Dockerfile"])
def test_the_images_install_the_runtime_lock_and_nothing_unpinned(dockerfile: str) -> None:
    text = (LOCK.parents[1] / dockerfile).read_text(encoding="utf-8")
    installs = [
        line.strip(" \\&") for line in text.splitlines() if "pip install" in line.split("#")[0]
    ]
    assert "RUN pip install --no-cache-dir -r requirements/run.txt" in installs
    # Every other install adds no dependency of its own (the project, with --no-deps).
    others = [line for line in installs if "-r requirements/run.txt" not in line]
    assert others, installs
    assert all("--no-deps" in line for line in others), others
    assert "COPY requirements/run.txt" in text
