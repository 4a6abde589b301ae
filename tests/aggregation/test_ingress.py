"""Home Assistant ingress over real HTTP: the dashboard behind a proxy that plays the Supervisor.

The server (hypercorn) trusts 127.0.0.2 as the ingress proxy. The stand-in proxy connects from
127.0.0.2 with the ingress headers; the same headers sent from 127.0.0.1 or 127.0.0.3 must
grant nothing.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest
from conftest import ADMIN_KEY
from ingress_proxy import PREFIX, USER_HEADERS, IngressProxy
from multidict import CIMultiDictProxy
from yarl import URL

from aggregation.app import create_app
from aggregation.dashboard import charts
from aggregation.dashboard.ingress import trusted_prefix
from aggregation.settings import Settings, SettingsError
from tests.ha.servers import serve_aggregation

SUPERVISOR = "127.0.0.2"
INGRESS_HEADERS = {"X-Ingress-Path": PREFIX, **USER_HEADERS}
CHART_CSV = [c for c in charts.CHART_IDS if c != "kpis"]


@dataclass
class Stack:
    """The server's direct URL (the published port) and the ingress proxy in front of it."""

    direct: str
    port: int
    proxy: IngressProxy
    panel: str  # the proxy's URL of the ingress prefix


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with serve_aggregation(
        tmp_path, api_key=ADMIN_KEY, ingress_proxy=(SUPERVISOR,), demo_data=True
    ) as (port, _db):
        direct = f"http://127.0.0.1:{port}"
        proxy = IngressProxy(direct, source=SUPERVISOR)
        base = await proxy.start()
        try:
            yield Stack(direct, port, proxy, base + PREFIX)
        finally:
            await proxy.close()


def browser_session() -> aiohttp.ClientSession:
    """A client that keeps cookies for an IP host and never follows redirects by itself."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def links(html: str) -> list[str]:
    """Every URL the page refers to: href, src, form action and data-* URLs."""
    return re.findall(r'(?:href|src|action|data-source|data-csv)="([^"]*)"', html)


async def test_sidebar_page_is_signed_in_and_stays_under_the_prefix(stack: Stack) -> None:
    async with browser_session() as client:
        async with client.get(f"{stack.panel}/dashboard", allow_redirects=False) as resp:
            assert resp.status == 200, "no sign-in form: Home Assistant signed the user in"
            html = await resp.text()
            cookie = SimpleCookie(resp.headers["Set-Cookie"])
            assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
            assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"]
    urls = links(html)
    assert len(urls) >= 8
    # A fragment ("#reports") stays on the page it is on, inside the prefix.
    outside = [url for url in urls if not url.startswith((PREFIX + "/", "#"))]
    assert not outside, f"links that leave the ingress path: {outside}"
    assert "Sign out" not in html, "signing out is Home Assistant's business"
    # The cookie is the ingress one, scoped to the prefix: Home Assistant's other paths
    # never see it. Plain HTTP to Home Assistant: not Secure (it would not come back).
    (name,) = cookie
    assert name == "aggregation_ingress_session"
    morsel = cookie[name]
    assert morsel["path"] == PREFIX
    assert morsel["httponly"] and morsel["samesite"] == "Strict"
    assert not morsel["secure"]


async def test_every_download_works_through_the_prefix(stack: Stack) -> None:
    async with browser_session() as client:
        async with client.get(f"{stack.panel}/dashboard/data.json") as resp:
            assert resp.status == 200
            data = await resp.json()
        assert data["charts"], "the chart data arrives"
        for chart in CHART_CSV:
            async with client.get(f"{stack.panel}/dashboard/csv/{chart}.csv") as resp:
                assert resp.status == 200, chart
                assert resp.headers["Content-Disposition"] == f'attachment; filename="{chart}.csv"'
        async with client.get(f"{stack.panel}/dashboard/csv.zip") as resp:
            assert resp.status == 200
            names = zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()
        assert set(names) == {f"{c}.csv" for c in charts.CHART_IDS}
        for kind in ("weekly", "monthly"):
            async with client.get(f"{stack.panel}/dashboard/reports/{kind}.json") as resp:
                assert resp.status == 200
                assert json.loads(await resp.text())
            async with client.get(f"{stack.panel}/dashboard/reports/{kind}.md") as resp:
                assert resp.status == 200
                assert (await resp.text()).startswith("#")
        # The login form is never shown under ingress, and the panel's root is the dashboard.
        for path in ("/dashboard/login", "/"):
            async with client.get(f"{stack.panel}{path}", allow_redirects=False) as resp:
                assert resp.status == 302, path
                assert resp.headers["Location"] == f"{PREFIX}/dashboard"
    assert not stack.proxy.escaped


async def test_csrf_is_still_enforced_under_ingress(stack: Stack) -> None:
    async with browser_session() as client:
        async with client.get(f"{stack.panel}/dashboard") as resp:
            assert resp.status == 200
        for token in ({}, {"X-CSRF-Token": "not-the-token"}):
            async with client.post(
                f"{stack.panel}/dashboard/logout", headers=token, allow_redirects=False
            ) as resp:
                assert resp.status == 403, "a write the browser could be tricked into sending"
                assert "CSRF" in (await resp.json())["error"]
        # The token is in the signed cookie the page got (as a form or script would send it).
        cookie = client.cookie_jar.filter_cookies(URL(f"{stack.panel}/dashboard"))
        token = session_token(cookie["aggregation_ingress_session"].value)
        async with client.post(
            f"{stack.panel}/dashboard/logout",
            headers={"X-CSRF-Token": token},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == f"{PREFIX}/dashboard/login"


def session_token(cookie_value: str) -> str:
    """The CSRF token inside a session cookie, read with the server's own signing key."""
    app = create_app(Settings(api_key=ADMIN_KEY, database_url="sqlite:///:memory:"))
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    token: str = serializer.loads(cookie_value)["csrf"]
    return token


async def direct_request(
    port: int, path: str, source: str, headers: dict[str, str]
) -> tuple[int, CIMultiDictProxy[str]]:
    """Status and headers of one GET to the server sent from the address `source`."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as client,
        client.get(
            f"http://127.0.0.1:{port}{path}", headers=headers, allow_redirects=False
        ) as resp,
    ):
        return resp.status, resp.headers


async def direct_status(
    port: int, path: str, source: str, headers: dict[str, str]
) -> tuple[int, str]:
    """Status and Location of one request to the server sent from the address `source`."""
    status, answer = await direct_request(port, path, source, headers)
    return status, answer.get("Location", "")


async def test_same_headers_from_elsewhere_grant_nothing(stack: Stack) -> None:
    protected = [
        "/dashboard/data.json",
        "/dashboard/csv/geography.csv",
        "/dashboard/csv.zip",
        "/dashboard/reports/weekly.md",
    ]
    for source in ("127.0.0.1", "127.0.0.3"):
        for path in protected:
            status, _ = await direct_status(stack.port, path, source, INGRESS_HEADERS)
            assert status == 401, (source, path)
        status, location = await direct_status(stack.port, "/dashboard", source, INGRESS_HEADERS)
        assert (status, location) == (302, "/dashboard/login"), "no prefix taken from them"
    # From the proxy's address, but without the user Home Assistant signed in: nothing.
    status, _ = await direct_status(
        stack.port, "/dashboard/data.json", SUPERVISOR, {"X-Ingress-Path": PREFIX}
    )
    assert status == 401
    # A prefix that would leave its path or break the markup is not trusted either.
    for hostile in ("/api/../../etc", '/api/x"><script>', "//evil.example/x", "relative"):
        status, _ = await direct_status(
            stack.port,
            "/dashboard/data.json",
            SUPERVISOR,
            {**USER_HEADERS, "X-Ingress-Path": hostile},
        )
        assert status == 401, hostile


async def test_untrusted_proxy_gets_no_rights(stack: Stack) -> None:
    impostor = IngressProxy(stack.direct, source="127.0.0.3")
    base = await impostor.start()
    try:
        async with browser_session() as client:
            async with client.get(f"{base}{PREFIX}/dashboard/data.json") as resp:
                assert resp.status == 401
            async with client.get(f"{base}{PREFIX}/dashboard", allow_redirects=False) as resp:
                assert resp.status == 302
                assert resp.headers["Location"] == "/dashboard/login"
    finally:
        await impostor.close()


async def test_api_key_login_keeps_working_on_the_published_port(stack: Stack) -> None:
    async with browser_session() as client:
        async with client.get(
            f"{stack.direct}/dashboard/data.json",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as resp:
            assert resp.status == 200
        async with client.get(f"{stack.direct}/dashboard/login") as resp:
            html = await resp.text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token is not None
        async with client.post(
            f"{stack.direct}/dashboard/login",
            data={"csrf_token": token.group(1), "api_key": ADMIN_KEY},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "/dashboard"
            cookie = SimpleCookie(resp.headers["Set-Cookie"])
        assert cookie["aggregation_session"]["path"] == "/"
        async with client.get(f"{stack.direct}/dashboard/data.json") as resp:
            assert resp.status == 200, "the session cookie signs in on the published port"


async def test_ingress_without_api_key(tmp_path: Path) -> None:
    # The add-on's fresh install: no key, so the sidebar is the only way in.
    async with serve_aggregation(tmp_path, ingress_proxy=(SUPERVISOR,)) as (port, _db):
        status, _ = await direct_status(port, "/dashboard/data.json", SUPERVISOR, INGRESS_HEADERS)
        assert status == 200
        status, _ = await direct_status(port, "/dashboard/data.json", "127.0.0.1", INGRESS_HEADERS)
        assert status == 503, "no key: the admin API is off for everyone else"


async def secure_cookie(port: int, path: str, source: str, headers: dict[str, str]) -> bool:
    """Whether the session cookie the server sets for this request is marked Secure."""
    status, answer = await direct_request(port, path, source, headers)
    assert status == 200, path
    morsel = next(iter(SimpleCookie(answer["Set-Cookie"]).values()))
    return bool(morsel["secure"])


async def test_cookie_is_secure_exactly_when_the_browser_used_https(tmp_path: Path) -> None:
    https = {"X-Forwarded-Proto": "https"}
    async with serve_aggregation(
        tmp_path, api_key=ADMIN_KEY, ingress_proxy=(SUPERVISOR,), trust_proxy=True
    ) as (port, _db):
        # Home Assistant reached over HTTPS or plain HTTP (as its proxy reports it).
        assert await secure_cookie(port, "/dashboard", SUPERVISOR, {**INGRESS_HEADERS, **https})
        assert not await secure_cookie(port, "/dashboard", SUPERVISOR, INGRESS_HEADERS)
        # The published port behind a trusted HTTPS proxy, and plain HTTP on the port.
        assert await secure_cookie(port, "/dashboard/login", "127.0.0.1", https)
        assert not await secure_cookie(port, "/dashboard/login", "127.0.0.1", {})
    untrusting = tmp_path / "untrusting"
    untrusting.mkdir()
    async with serve_aggregation(untrusting, api_key=ADMIN_KEY) as (port, _db):
        # Without TRUST_PROXY the header is anybody's word: it changes nothing.
        assert not await secure_cookie(port, "/dashboard/login", "127.0.0.1", https)


def test_ingress_proxy_setting() -> None:
    assert Settings().ingress_proxy == (), "plain servers trust no ingress proxy"
    settings = Settings.from_env({"INGRESS_PROXY": " 172.30.32.2 , ::ffff:127.0.0.2,"})
    assert settings.ingress_proxy == ("172.30.32.2", "::ffff:127.0.0.2")
    for bad in ("supervisor", "172.30.32.0/24", "172.30.32.2:80"):
        with pytest.raises(SettingsError, match="INGRESS_PROXY"):
            Settings.from_env({"INGRESS_PROXY": bad})


def test_trusted_prefix_rules() -> None:
    proxies = frozenset({"172.30.32.2"})
    good = [(b"x-ingress-path", PREFIX.encode()), (b"x-remote-user-id", b"abc123")]
    assert trusted_prefix("172.30.32.2", good, proxies) == PREFIX
    assert trusted_prefix("::ffff:172.30.32.2", good, proxies) == PREFIX
    assert trusted_prefix("172.30.32.3", good, proxies) is None
    assert trusted_prefix(None, good, proxies) is None
    assert trusted_prefix("172.30.32.2", good[:1], proxies) is None
    assert trusted_prefix("172.30.32.2", [(b"x-remote-user-id", b"abc")], proxies) is None
    odd_user = [good[0], (b"x-remote-user-id", b"a b")]
    assert trusted_prefix("172.30.32.2", odd_user, proxies) is None
    long_path = [(b"x-ingress-path", b"/a" * 100_000), good[1]]
    assert trusted_prefix("172.30.32.2", long_path, proxies) is None
