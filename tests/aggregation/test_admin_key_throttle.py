"""Guessing the admin key in a header meets the dashboard's sign-in throttle (real HTTP, both DBs)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ADMIN, ADMIN_KEY
from test_aggregation_http import Server

from aggregation.dashboard.throttle import LoginLimits
from aggregation.settings import Settings, SettingsError
from aggregation.storage import open_repository
from aggregation.storage.sql import SqlRepository

# Sign-in attempts are counted per wall-clock window (conftest.away_from_window_edge).
pytestmark = pytest.mark.usefixtures("away_from_window_edge")

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
ATTACKER = "203.0.113.9"
NEIGHBOUR = "198.51.100.7"
PER_CLIENT, TOTAL = 4, 10


def _wrong(n: int) -> dict[str, str]:
    """Wrong keys in both headers the admin API reads."""
    return {"Authorization": f"Bearer guess-{n}"} if n % 2 else {"X-API-Key": f"guess-{n}"}


# Admin operations of every kind: statistics, export, deletion, the dashboard's data.
ROUTES = [
    ("GET", "/stats/summary"),
    ("GET", "/stats/export?format=csv"),
    ("DELETE", f"/installation/{uuid.uuid4()}"),
    ("GET", "/dashboard/data.json"),
]


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    """`python -m aggregation` behind a (pretend) trusted proxy, small limits from the env."""
    running = Server(database_url, tmp_path / "server.log")
    try:
        await running.start(
            TRUST_PROXY="true",
            LOG_LEVEL="INFO",
            ADMIN_ATTEMPTS_PER_CLIENT=str(PER_CLIENT),
            ADMIN_ATTEMPTS_TOTAL=str(TOTAL),
        )
        yield running
    finally:
        running.stop()


async def _call(
    http: aiohttp.ClientSession, base: str, route: tuple[str, str], address: str, **headers: str
) -> tuple[int, dict[str, str], Any]:
    method, path = route
    async with http.request(
        method, base + path, headers={"X-Forwarded-For": address, **headers}
    ) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, dict(resp.headers), body


async def _form_sign_in(http: aiohttp.ClientSession, base: str, key: str, address: str) -> int:
    headers = {"X-Forwarded-For": address}
    async with http.get(f"{base}/dashboard/login", headers=headers) as page:
        match = TOKEN.search(await page.text())
    assert match
    async with http.post(
        f"{base}/dashboard/login",
        data={"api_key": key, "csrf_token": match.group(1)},
        headers=headers,
        allow_redirects=False,
    ) as resp:
        return resp.status


async def test_wrong_header_keys_are_throttled_like_the_sign_in_form(
    server: Server, database_url: str
) -> None:
    base = server.url
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of an IP-address host
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        # PER_CLIENT wrong keys, over every kind of admin route: 401 with the challenge.
        for n in range(PER_CLIENT):
            status, headers, body = await _call(
                http, base, ROUTES[n % len(ROUTES)], ATTACKER, **_wrong(n)
            )
            assert (status, body) == (401, {"error": "wrong admin key"})
            assert headers["WWW-Authenticate"].startswith("Bearer")
        # The next guess, and then the right key from the same network: 429, the same answer.
        answers = [
            await _call(http, base, ROUTES[0], ATTACKER, **_wrong(99)),
            *[await _call(http, base, route, ATTACKER, **ADMIN) for route in ROUTES],
            await _call(http, base, ROUTES[1], ATTACKER, **{"X-API-Key": ADMIN_KEY}),
        ]
        for status, headers, body in answers:
            assert status == 429
            assert 1 <= int(headers["Retry-After"]) <= LoginLimits().window_seconds
            assert body["error"].startswith("Too many sign-in attempts from your network.")
            assert "Wrong admin keys count as sign-in attempts" in body["error"]
        assert len({body["error"] for _, _, body in answers}) == 1
        # The form is closed to this client too: one budget for every way to try the key.
        assert await _form_sign_in(http, base, ADMIN_KEY, ATTACKER) == 429
        # Without a key nothing changes; routes that need no key ignore it.
        status, _, body = await _call(http, base, ROUTES[0], ATTACKER)
        assert status == 401 and body["error"].startswith("admin key required")
        assert (await _call(http, base, ("GET", "/health"), ATTACKER, **_wrong(1)))[0] == 200
        # Another client's right key works (right keys are never counted) ...
        for route in ROUTES[:2]:
            assert (await _call(http, base, route, NEIGHBOUR, **ADMIN))[0] == 200
        # ... and a session opened elsewhere works from the throttled network.
        assert await _form_sign_in(http, base, ADMIN_KEY, NEIGHBOUR) == 302
        assert (await _call(http, base, ROUTES[0], ATTACKER))[0] == 200
        jar.clear()

        # All clients together: PER_CLIENT wrong keys and one form sign-in are spent.
        spent = PER_CLIENT + 1
        statuses = [
            (await _call(http, base, ROUTES[0], f"192.0.2.{n}", **_wrong(n)))[0]
            for n in range(1, TOTAL - spent + 2)
        ]
        assert statuses == [401] * (TOTAL - spent) + [429]
        status, headers, body = await _call(http, base, ROUTES[0], NEIGHBOUR, **ADMIN)
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert body["error"].startswith("Too many sign-in attempts on this server.")
        assert (await _call(http, base, ROUTES[0], "192.0.2.200"))[0] == 401  # no key: as ever

    server.stop()  # flushes the log
    log = server.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    throttled = [(e["via"], e["scope"]) for e in lines if e.get("event") == "login_throttled"]
    assert throttled == [
        *[("header", "client")] * len(answers),
        ("form", "client"),
        *[("header", "all_clients")] * 2,
    ]
    repo = await open_repository(database_url)
    try:
        assert isinstance(repo, SqlRepository)
        async with repo._read() as tx:
            rows = await tx.fetch("SELECT bucket, attempts FROM login_attempts")
    finally:
        await repo.close()
    counts = {str(bucket): int(attempts) for bucket, attempts in rows}
    assert counts["*"] == TOTAL
    for text in (log, repr(rows)):
        for address in ("203.0.113", "198.51.100", "192.0.2."):
            assert address not in text


def test_limits_are_settings() -> None:
    settings = Settings.from_env(
        {
            "ADMIN_ATTEMPTS_PER_CLIENT": "5",
            "ADMIN_ATTEMPTS_TOTAL": "50",
            "ADMIN_ATTEMPTS_WINDOW_SECONDS": "600",
        }
    )
    assert LoginLimits.from_settings(settings) == LoginLimits(
        window_seconds=600, per_client=5, all_clients=50
    )
    assert LoginLimits.from_settings(Settings.from_env({})) == LoginLimits()
    with pytest.raises(SettingsError, match="ADMIN_ATTEMPTS_PER_CLIENT must be between 1"):
        Settings.from_env({"ADMIN_ATTEMPTS_PER_CLIENT": "0"})
    with pytest.raises(SettingsError, match="ADMIN_ATTEMPTS_WINDOW_SECONDS must be between 60"):
        Settings.from_env({"ADMIN_ATTEMPTS_WINDOW_SECONDS": "5"})
