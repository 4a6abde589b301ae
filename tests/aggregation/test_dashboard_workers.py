"""Real HTTP, WORKERS=2: the sign-in throttle (form and key header) and logout span processes."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from conftest import ADMIN_KEY
from test_aggregation_http import Server, worker_pids

from aggregation.dashboard.throttle import LoginLimits

# Sign-in attempts are counted per wall-clock window (conftest.away_from_window_edge).
pytestmark = pytest.mark.usefixtures("away_from_window_edge")

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
LIMITS = LoginLimits()


@pytest.fixture
async def two_workers(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    """`python -m aggregation` with two worker processes behind a (pretend) trusted proxy."""
    server = Server(database_url, tmp_path / "server.log")
    try:
        await server.start(WORKERS="2", TRUST_PROXY="true", LOG_LEVEL="WARNING")
        yield server
    finally:
        server.stop()


def _browser() -> aiohttp.ClientSession:
    # A new connection per request: the kernel spreads them over both workers' accept queues.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # keep cookies of an IP-address host
    )


async def _form_token(http: aiohttp.ClientSession, url: str, address: str) -> str:
    async with http.get(url, headers={"X-Forwarded-For": address}) as page:
        match = TOKEN.search(await page.text())
    assert match
    return match.group(1)


async def _sign_in(http: aiohttp.ClientSession, base: str, key: str, address: str) -> int:
    token = await _form_token(http, f"{base}/dashboard/login", address)
    async with http.post(
        f"{base}/dashboard/login",
        data={"api_key": key, "csrf_token": token},
        headers={"X-Forwarded-For": address},
        allow_redirects=False,
    ) as resp:
        return resp.status


async def test_two_workers_share_the_throttle_and_the_logout(two_workers: Server) -> None:
    base = two_workers.url

    async def guess(n: int) -> int:
        async with _browser() as http:
            return await _sign_in(http, base, f"guess-{n}", "203.0.113.50")

    statuses = Counter(await asyncio.gather(*(guess(n) for n in range(LIMITS.per_client * 3))))
    assert statuses == {401: LIMITS.per_client, 429: LIMITS.per_client * 2}

    # Wrong keys in a header spend the same shared budget: exact over both processes too.
    async def header_guess(n: int) -> int:
        async with (
            _browser() as http,
            http.get(
                f"{base}/stats/summary",
                headers={"X-Forwarded-For": "203.0.113.51", "X-API-Key": f"guess-{n}"},
            ) as resp,
        ):
            return resp.status

    statuses = Counter(
        await asyncio.gather(*(header_guess(n) for n in range(LIMITS.per_client * 3)))
    )
    assert statuses == {401: LIMITS.per_client, 429: LIMITS.per_client * 2}

    async with _browser() as browser:
        assert await _sign_in(browser, base, ADMIN_KEY, "198.51.100.20") == 302
        copied = {c.key: c.value for c in browser.cookie_jar}["aggregation_session"]
        headers = {"Cookie": f"aggregation_session={copied}"}

        async def with_copy() -> int:
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as thief,
                thief.get(f"{base}/dashboard/data.json", headers=headers) as resp,
            ):
                return resp.status

        assert await asyncio.gather(*(with_copy() for _ in range(6))) == [200] * 6
        token = await _form_token(browser, f"{base}/dashboard", "198.51.100.20")
        async with browser.post(
            f"{base}/dashboard/logout", data={"csrf_token": token}, allow_redirects=False
        ) as resp:
            assert resp.status == 302
        assert await asyncio.gather(*(with_copy() for _ in range(6))) == [401] * 6
    assert two_workers.proc is not None
    assert len(await asyncio.to_thread(worker_pids, two_workers.proc.pid)) == 2
