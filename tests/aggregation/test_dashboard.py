"""Dashboard: login, logout, refusal without a session, chart data and CSV on demo data."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import ADMIN, ADMIN_KEY
from quart import Quart

from aggregation.app import create_app
from aggregation.dashboard import charts
from aggregation.settings import Settings

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def demo_app(make_settings: Callable[..., Settings]) -> AsyncIterator[Quart]:
    """A serving app whose database was filled with the demo history at start-up."""
    application = create_app(make_settings(demo_data=True, public_page=True))
    async with application.test_app():
        yield application


async def _token(client: Any, path: str = "/dashboard/login") -> str:
    html = await (await client.get(path)).get_data(as_text=True)
    match = TOKEN.search(html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


async def _login(client: Any) -> None:
    token = await _token(client)
    resp = await client.post("/dashboard/login", form={"api_key": ADMIN_KEY, "csrf_token": token})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/dashboard"


async def test_refused_without_session(app: Quart) -> None:
    client = app.test_client()
    resp = await client.get("/dashboard")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/dashboard/login"
    for path in (
        "/dashboard/data.json",
        "/dashboard/csv/geography",
        "/dashboard/csv.zip",
        "/dashboard/reports/weekly.md",
    ):
        assert (await client.get(path)).status_code == 401, path


async def test_login_sets_secure_session_cookie_and_logout_ends_it(
    make_settings: Callable[..., Settings],
) -> None:
    application = create_app(make_settings(session_cookie_secure=True))
    async with application.test_app():
        client = application.test_client()
        token = await _token(client)
        resp = await client.post(
            "/dashboard/login", form={"api_key": ADMIN_KEY, "csrf_token": token}
        )
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Secure" in cookie
        assert ADMIN_KEY not in cookie


async def test_login_page_flow_and_logout(app: Quart) -> None:
    client = app.test_client()
    await _login(client)
    page = await client.get("/dashboard")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert "vendor/chart.umd.js" in html
    assert "https://" not in html, "no third-party resources: the page works offline"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert (await client.get("/dashboard/data.json")).status_code == 200
    # The session also opens the admin API (the server's auth accepts it).
    assert (await client.get("/stats/summary")).status_code == 200
    # Logging out needs the form's token: another site cannot sign the maintainer out.
    token = TOKEN.search(html).group(1)  # type: ignore[union-attr]
    forged = await client.post("/dashboard/logout", form={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert (await client.get("/dashboard/data.json")).status_code == 200
    resp = await client.post("/dashboard/logout", form={"csrf_token": token})
    assert resp.headers["Location"] == "/dashboard/login"
    assert (await client.get("/dashboard/data.json")).status_code == 401
    assert (await client.get("/dashboard")).status_code == 302


async def test_wrong_key_and_missing_csrf_are_refused(app: Quart) -> None:
    client = app.test_client()
    token = await _token(client)
    wrong = await client.post("/dashboard/login", form={"api_key": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    assert "not right" in await wrong.get_data(as_text=True)
    no_csrf = await client.post("/dashboard/login", form={"api_key": ADMIN_KEY})
    assert no_csrf.status_code == 400
    forged = await client.post(
        "/dashboard/login", form={"api_key": ADMIN_KEY, "csrf_token": "x" * 43}
    )
    assert forged.status_code == 400
    assert (await client.get("/dashboard/data.json")).status_code == 401


async def test_login_impossible_without_api_key(make_settings: Callable[..., Settings]) -> None:
    application = create_app(make_settings(api_key=""))
    async with application.test_app():
        client = application.test_client()
        token = await _token(client)
        resp = await client.post("/dashboard/login", form={"api_key": "", "csrf_token": token})
        assert resp.status_code == 403
        assert "No API_KEY" in await resp.get_data(as_text=True)


async def test_chart_data_on_demo_history(demo_app: Quart) -> None:
    client = demo_app.test_client()
    resp = await client.get("/dashboard/data.json", headers=ADMIN)
    assert resp.status_code == 200
    data = await resp.get_json()
    ids = [chart["id"] for chart in data["charts"]]
    assert set(ids) == set(charts.CHART_IDS) - {"anomalies", "kpis"}
    for chart in data["charts"]:
        values = [v for s in chart["series"] for v in s["values"] if v]
        assert chart["labels"] and values, f"{chart['id']} has data"
    kpis = {kpi["id"]: kpi for kpi in data["kpis"]}
    assert kpis["installations"]["value"] == 60
    assert kpis["latest_version"]["value"] == "1.6.0"
    assert kpis["growth"]["trend"] in {"up", "down", None}
    by_id = {chart["id"]: chart for chart in data["charts"]}
    migration = by_id["version_migration"]
    first = {s["name"]: s["values"][0] for s in migration["series"]}
    last = {s["name"]: s["values"][-1] for s in migration["series"]}
    assert first["1.4.2"] == 100.0
    assert last["1.6.0"] > 50
    spikes = [a for a in data["anomalies"] if a["kind"] == "error_spike"]
    assert any("MQTTDisconnectError" in a["title"] for a in spikes)
    spike = next(a for a in spikes if "MQTTDisconnectError" in a["title"])
    assert [name for name, _ in spike["numbers"]] == [
        "period",
        "observed",
        "baseline",
        "threshold",
        "installations",
    ]
    assert spike["severity"] == "critical"


async def test_every_chart_downloads_as_csv(demo_app: Quart) -> None:
    client = demo_app.test_client()
    await _login(client)
    for chart_id in charts.CHART_IDS:
        resp = await client.get(f"/dashboard/csv/{chart_id}.csv")
        assert resp.status_code == 200, chart_id
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert f'filename="{chart_id}.csv"' in resp.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(await resp.get_data(as_text=True))))
        assert len(rows) > 1, chart_id
    geo = await client.get("/dashboard/csv/geography")
    rows = list(csv.reader(io.StringIO(await geo.get_data(as_text=True))))
    assert rows[0] == ["country", "Installations"]
    assert all(int(row[1]) >= 5 for row in rows[1:]), "k-suppressed buckets only"
    assert (await client.get("/dashboard/csv/nope")).status_code == 404
    archive = await client.get("/dashboard/csv.zip")
    names = zipfile.ZipFile(io.BytesIO(await archive.get_data())).namelist()
    assert "version_migration.csv" in names


async def test_static_chart_library_is_vendored(app: Quart) -> None:
    client = app.test_client()
    resp = await client.get("/dashboard/static/vendor/chart.umd.js")
    assert resp.status_code == 200
    assert "Chart.js v4" in (await resp.get_data(as_text=True))[:200]
