"""Dashboard sign-in under attack: throttled guessing, logout that ends the session, CSRF."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agg_payloads import payload
from conftest import ADMIN, ADMIN_KEY
from quart import Quart

from aggregation.app import create_app
from aggregation.dashboard.session import SAFE_METHODS
from aggregation.dashboard.throttle import LoginLimits, LoginThrottle, client_network
from aggregation.settings import Settings
from aggregation.storage import open_repository, signin
from aggregation.storage.sql import SqlRepository

# Sign-in attempts are counted per wall-clock window (conftest.away_from_window_edge).
pytestmark = pytest.mark.usefixtures("away_from_window_edge")

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FOREIGN = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
LIMITS = LoginLimits()
# Routes that take anonymous writes (clients' reports): a session adds no rights there.
PUBLIC_WRITES = {"/submit"}


async def _token(client: Any, headers: dict[str, str] | None = None) -> str:
    page = await client.get("/dashboard/login", headers=headers or {})
    match = TOKEN.search(await page.get_data(as_text=True))
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


async def _attempt(client: Any, key: str, address: str) -> Any:
    headers = {"X-Forwarded-For": address}
    token = await _token(client, headers)
    return await client.post(
        "/dashboard/login", form={"api_key": key, "csrf_token": token}, headers=headers
    )


async def _sign_in(client: Any, address: str = "198.51.100.1") -> str:
    """Sign in through the form; the session cookie's value."""
    resp = await _attempt(client, ADMIN_KEY, address)
    assert resp.status_code == 302, await resp.get_data(as_text=True)
    cookie = resp.headers["Set-Cookie"]
    return cookie.split(";", 1)[0].split("=", 1)[1]


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"aggregation_session={value}"}


async def _rows(app: Quart, sql: str) -> list[Any]:
    repo: SqlRepository = app.config["REPOSITORY"]
    async with repo._read() as tx:
        return await tx.fetch(sql)


@pytest.fixture
async def proxied(make_settings: Callable[..., Settings]) -> AsyncIterator[Quart]:
    """An app behind a trusted proxy, so each test picks the client address it speaks from."""
    application = create_app(make_settings(trust_proxy=True))
    async with application.test_app():
        yield application


# --- throttled sign-in -------------------------------------------------------------------------


async def test_guessing_from_one_address_is_throttled_with_429(
    proxied: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregation")
    client = proxied.test_client()
    address = "203.0.113.77"
    guesses = await asyncio.gather(
        *(_attempt(proxied.test_client(), f"guess-{n}", address) for n in range(LIMITS.per_client))
    )
    assert [g.status_code for g in guesses] == [401] * LIMITS.per_client
    refused = await _attempt(client, "guess-again", address)
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= LIMITS.window_seconds
    html = await refused.get_data(as_text=True)
    assert "Too many sign-in attempts from your network. Try again in" in html
    # Even the right key waits now: the throttle is checked before the key.
    assert (await _attempt(client, ADMIN_KEY, address)).status_code == 429
    # Another client (and the same one's IPv6 neighbours count as one) is not affected.
    assert (await _attempt(client, ADMIN_KEY, "203.0.113.78")).status_code == 302
    # The log says what happened, without the address or the key it was counted under.
    throttled = [
        r for r in caplog.records if getattr(r, "fields", {}).get("event") == "login_throttled"
    ]
    assert len(throttled) == 2
    assert throttled[0].fields == {  # type: ignore[attr-defined]
        "event": "login_throttled",
        "scope": "client",
        "via": "form",
        "retry_after": throttled[0].fields["retry_after"],  # type: ignore[attr-defined]
    }
    keys = [row[0] for row in await _rows(proxied, "SELECT bucket FROM login_attempts")]
    assert "*" in keys and len(keys) == 3  # everyone, and the two clients
    for text in (caplog.text, repr(keys)):
        assert address not in text and "203.0.113" not in text
    for key in keys:
        assert caplog.text.count(key) == 0 or key == "*"


async def test_all_clients_together_are_throttled(proxied: Quart) -> None:
    """Many addresses (a botnet, or one IPv6 holder) share one global budget per window."""
    client = proxied.test_client()
    addresses = [f"2001:db8:{n:x}::1" for n in range(LIMITS.all_clients)]
    # Right keys: the budget counts attempts, and right ones take no failure delay.
    answers = await asyncio.gather(
        *(_attempt(proxied.test_client(), ADMIN_KEY, a) for a in addresses)
    )
    assert [a.status_code for a in answers] == [302] * LIMITS.all_clients
    refused = await _attempt(client, ADMIN_KEY, "192.0.2.200")
    assert refused.status_code == 429
    assert "Too many sign-in attempts on this server" in await refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) <= LIMITS.window_seconds


def test_ipv6_clients_are_counted_per_64_network() -> None:
    assert client_network("2001:db8:1:2:aaaa::1") == client_network("2001:db8:1:2:ffff::9")
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_network(None) == client_network("not an address") == "unknown"


async def test_throttle_is_shared_by_two_server_instances(
    make_settings: Callable[..., Settings],
) -> None:
    """Two processes (two apps on one database) together allow one client its limit, no more."""
    settings = make_settings(trust_proxy=True)
    one, two = create_app(settings), create_app(settings)
    async with one.test_app(), two.test_app():
        codes = []
        for n in range(LIMITS.per_client + 4):
            target = one if n % 2 == 0 else two
            codes.append((await _attempt(target.test_client(), "wrong", "192.0.2.9")).status_code)
        assert codes == [401] * LIMITS.per_client + [429] * 4


async def test_attempt_counters_are_short_lived_and_unlinkable(database_url: str) -> None:
    repo = await open_repository(database_url)
    try:
        throttle = LoginThrottle("secret", LoginLimits(window_seconds=60, per_client=2))
        now = 1_800_000_030.0
        assert await throttle.attempt(repo, "192.0.2.1", now) is None
        first = throttle.client_key("192.0.2.1", throttle.window_start(now))
        # The same client in the next window is counted under a key that cannot be linked.
        later = now + 60
        assert await throttle.attempt(repo, "192.0.2.1", later) is None
        assert throttle.client_key("192.0.2.1", throttle.window_start(later)) != first
        assert LoginThrottle("other secret").client_key("192.0.2.1", 0) != throttle.client_key(
            "192.0.2.1", 0
        )
        assert isinstance(repo, SqlRepository)
        async with repo._read() as tx:
            rows = await tx.fetch("SELECT bucket, window_start FROM login_attempts")
        # Writing in a new window deleted the old one's rows.
        assert {int(r[1]) for r in rows} == {throttle.window_start(later)}
        await throttle.purge(repo, later + 60)
        async with repo._read() as tx:
            assert await tx.fetch("SELECT * FROM login_attempts") == []
    finally:
        await repo.close()


async def test_header_keys_default_limits_and_right_keys_never_counted(
    proxied: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregation")
    client = proxied.test_client()
    script = {"X-Forwarded-For": "192.0.2.50", **ADMIN}
    # A script using the key all day spends nothing of its network's budget.
    for _ in range(LIMITS.per_client * 2):
        assert (await client.get("/stats/summary", headers=script)).status_code == 200
    guesses = [
        {"X-Forwarded-For": "192.0.2.50", "X-API-Key": f"guess-{n}"}
        for n in range(LIMITS.per_client + 1)
    ]
    codes = [(await client.get("/stats/versions", headers=h)).status_code for h in guesses]
    assert codes == [401] * LIMITS.per_client + [429]
    assert (await client.get("/stats/summary", headers=script)).status_code == 429
    # The dashboard page itself tells no right key from a wrong one while throttled.
    page = await client.get("/dashboard", headers=script)
    assert page.status_code == 429
    throttled = [r for r in caplog.records if getattr(r, "fields", {}).get("via") == "header"]
    assert [r.fields["scope"] for r in throttled] == ["client"] * 3  # type: ignore[attr-defined]
    assert "192.0.2.50" not in caplog.text


# --- logout ends the session on the server ----------------------------------------------------


async def test_copied_cookie_is_dead_after_logout_in_every_instance(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    one, two = create_app(settings), create_app(settings)
    async with one.test_app(), two.test_app():
        browser = one.test_client()
        copied = await _sign_in(browser)
        # The copy works, on both instances, like the browser's own cookie.
        assert (
            await two.test_client().get("/dashboard/data.json", headers=_cookie(copied))
        ).status_code == 200
        assert (
            await one.test_client().get("/stats/summary", headers=_cookie(copied))
        ).status_code == 200
        page = await browser.get("/dashboard")
        token = TOKEN.search(await page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        resp = await browser.post("/dashboard/logout", form={"csrf_token": token})
        assert resp.headers["Location"] == "/dashboard/login"
        for app in (one, two):
            thief = app.test_client()
            assert (
                await thief.get("/dashboard/data.json", headers=_cookie(copied))
            ).status_code == 401
            assert (await thief.get("/stats/summary", headers=_cookie(copied))).status_code == 401
            page = await thief.get("/dashboard", headers=_cookie(copied))
            assert page.headers["Location"] == "/dashboard/login"
        assert await _rows(one, "SELECT * FROM admin_sessions") == []


async def test_sessions_expire_on_the_server(app: Quart) -> None:
    repo = app.config["REPOSITORY"]
    now = int(time.time())
    await signin.create_session(repo, "a" * 64, expires_at=now - 1, now=now - 100)
    await signin.create_session(repo, "b" * 64, expires_at=now + 3600, now=now)
    assert not await signin.session_alive(repo, "a" * 64, now=now)
    assert await signin.session_alive(repo, "b" * 64, now=now)
    # Any later write (a sign-in, or the periodic purge) deletes expired rows.
    await signin.purge_expired(repo, now=now, window_start=0)
    assert [r[0] for r in await _rows(app, "SELECT session_hash FROM admin_sessions")] == ["b" * 64]


async def test_database_keeps_no_session_id(app: Quart) -> None:
    client = app.test_client()
    await _sign_in(client)
    async with client.session_transaction() as cookie:
        session_id = cookie["sid"]
    stored = await _rows(app, "SELECT session_hash, expires_at FROM admin_sessions")
    assert len(stored) == 1
    assert session_id not in stored[0][0]
    assert 11 * 3600 < stored[0][1] - time.time() <= 12 * 3600


# --- CSRF: state-changing requests with the session need the token ----------------------------


async def _installation(app: Quart) -> str:
    body = payload()
    assert (await app.test_client().post("/submit", json=body)).status_code == 201
    return str(body["installation"]["installation_id"])


async def test_session_delete_from_a_foreign_origin_is_refused(app: Quart) -> None:
    client = app.test_client()
    cookie = _cookie(await _sign_in(client))
    page = await client.get("/dashboard")
    token = TOKEN.search(await page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    iid = await _installation(app)
    repo = app.config["REPOSITORY"]

    forged = await app.test_client().delete(f"/installation/{iid}", headers={**cookie, **FOREIGN})
    assert forged.status_code == 403
    assert "CSRF token" in (await forged.get_json())["error"]
    assert await repo.count_submissions(iid) == 1
    # A wrong token is no better than none.
    wrong = await app.test_client().delete(
        f"/installation/{iid}", headers={**cookie, "X-CSRF-Token": "x" * 43}
    )
    assert wrong.status_code == 403
    assert await repo.count_submissions(iid) == 1
    # The page's own token (a same-origin script) may delete.
    ok = await app.test_client().delete(
        f"/installation/{iid}", headers={**cookie, "X-CSRF-Token": token}
    )
    assert ok.status_code == 200
    assert await repo.count_submissions(iid) == 0


async def test_api_key_requests_without_cookies_work_as_before(app: Quart) -> None:
    iid = await _installation(app)
    resp = await app.test_client().delete(f"/installation/{iid}", headers={**ADMIN, **FOREIGN})
    assert resp.status_code == 200
    assert (await resp.get_json())["rows_deleted"] == 1
    assert (await app.test_client().get("/stats/summary", headers=ADMIN)).status_code == 200


def _example(argument: str) -> str:
    return str(uuid.uuid4()) if "id" in argument else "weekly"


async def test_every_state_changing_route_refuses_the_session_without_token(app: Quart) -> None:
    """Every rule of the app with a state-changing method, walked from the URL map."""
    client = app.test_client()
    cookie = _cookie(await _sign_in(client))
    routes = [
        (rule, method)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods or ())
        if method not in SAFE_METHODS
    ]
    walked = {rule.rule for rule, _ in routes}
    assert {"/installation/<installation_id>", "/dashboard/logout", "/dashboard/login"} <= walked
    for rule, method in routes:
        path = rule.build({arg: _example(arg) for arg in rule.arguments})[1]
        resp = await app.test_client().open(
            path, method=method, headers={**cookie, **FOREIGN}, json={}
        )
        if rule.rule in PUBLIC_WRITES:
            # Open to anyone (no rights to borrow): the session must make no difference.
            anonymous = await app.test_client().open(path, method=method, json={})
            assert resp.status_code == anonymous.status_code, rule.rule
            continue
        assert resp.status_code == 403, (method, rule.rule, resp.status_code)
        assert "CSRF token" in (await resp.get_json())["error"], rule.rule
    # None of them ended the session or changed it.
    assert (await app.test_client().get("/dashboard/data.json", headers=cookie)).status_code == 200


async def test_logout_from_another_site_does_nothing(app: Quart) -> None:
    client = app.test_client()
    cookie = _cookie(await _sign_in(client))
    resp = await app.test_client().post(
        "/dashboard/logout", form={"csrf_token": "forged"}, headers={**cookie, **FOREIGN}
    )
    assert resp.status_code == 403
    assert (await app.test_client().get("/dashboard/data.json", headers=cookie)).status_code == 200
