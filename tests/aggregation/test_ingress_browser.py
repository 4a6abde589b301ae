"""Headless Chromium opens the dashboard as Home Assistant's sidebar panel, through ingress.

A Home Assistant stand-in page frames /api/hassio_ingress/<token>/dashboard; the stand-in
Supervisor proxy (127.0.0.2) forwards it to the real server, which has no API key at all (the
add-on's fresh install). Every request the browser makes is recorded: none may leave the prefix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ingress_proxy import PREFIX, IngressProxy
from test_dashboard_browser import CHARTS, DRAWN_PIXELS

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.ha.servers import serve_aggregation

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium is not installed"),
]

# Every link of the Reports menu, fetched by the page itself: status and body size.
FETCH_MENU = """
async () => Promise.all([...document.querySelectorAll('.menu-list a:not([href^="#"])')].map(async (a) => {
  const response = await fetch(a.href, { credentials: 'same-origin' });
  return [a.getAttribute('href'), response.status, (await response.arrayBuffer()).byteLength];
}))
"""


async def test_sidebar_panel_in_chromium(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    async with serve_aggregation(tmp_path, ingress_proxy=("127.0.0.2",), demo_data=True) as (
        port,
        _db,
    ):
        proxy = IngressProxy(f"http://127.0.0.1:{port}", source="127.0.0.2")
        home_assistant = await proxy.start()
        panel = f"{home_assistant}{PREFIX}/"
        requested: list[str] = []
        errors: list[str] = []
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = await browser.new_context(
                        viewport={"width": 1440, "height": 900}, accept_downloads=True
                    )
                    context.on("request", lambda req: requested.append(req.url))
                    page = await context.new_page()
                    page.on("pageerror", lambda exc: errors.append(str(exc)))
                    page.on(
                        "console",
                        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
                    )
                    await page.goto(f"{home_assistant}/")
                    handle = await page.wait_for_selector("#panel")
                    assert handle is not None
                    frame = await handle.content_frame()
                    assert frame is not None
                    # Signed in without a form: the charts load straight away, framed.
                    await frame.wait_for_selector("body[data-ready='true']", timeout=30_000)
                    assert frame.url == f"{panel}dashboard"
                    assert await frame.locator("#api_key").count() == 0

                    for chart_id in CHARTS:
                        card = frame.locator(f"#chart-{chart_id}")
                        assert await card.get_attribute("data-state") == "rendered", chart_id
                        drawn = await card.locator("canvas").evaluate(DRAWN_PIXELS)
                        assert drawn > 500, f"{chart_id} drawn"
                    assert await frame.locator(".kpi").count() == 4

                    async with page.expect_download() as info:
                        await frame.click("#chart-geography a.csv")
                    download = await info.value
                    assert download.url == f"{panel}dashboard/csv/geography.csv"
                    saved = tmp_path / download.suggested_filename
                    await download.save_as(saved)
                    assert saved.read_text().startswith("country,Installations\n")

                    async with page.expect_download() as info:
                        await frame.click("#anomalies a.csv")
                    assert (await info.value).suggested_filename == "anomalies.csv"

                    await frame.click(".menu summary")
                    async with page.expect_download() as info:
                        await frame.click("text=All charts · CSV (zip)")
                    archive = await info.value
                    assert archive.suggested_filename.endswith(".zip")
                    assert archive.url.startswith(panel)

                    fetched = await frame.evaluate(FETCH_MENU)
                    assert len(fetched) == 5, "weekly and monthly, Markdown and JSON, the zip"
                    for href, status, size in fetched:
                        assert href.startswith(PREFIX + "/"), href
                        assert status == 200 and size > 0, href

                    cookies = await context.cookies()
                    assert [c["name"] for c in cookies] == ["aggregation_ingress_session"]
                    assert cookies[0]["path"] == PREFIX, "Home Assistant's other paths never see it"
                    await context.close()
                finally:
                    await browser.close()
        finally:
            await proxy.close()

    loaded = {
        "dashboard",
        "dashboard/static/dashboard.css",
        "dashboard/static/vendor/chart.umd.js",
        "dashboard/static/dashboard.js",
        "dashboard/data.json",
        "dashboard/reports/weekly.md",
        "dashboard/reports/monthly.json",
    }
    assert {f"{panel}{path}" for path in loaded} <= set(requested), requested
    # Downloads are not reported as page requests; the proxy saw them, inside the prefix.
    downloaded = {"dashboard/csv/geography.csv", "dashboard/csv/anomalies.csv", "dashboard/csv.zip"}
    assert {f"{PREFIX}/{path}" for path in downloaded} <= set(proxy.seen), proxy.seen
    outside = [
        url for url in requested if url != f"{home_assistant}/" and not url.startswith(panel)
    ]
    assert not outside, f"requests that left the ingress path: {outside}"
    assert not proxy.escaped, proxy.escaped
    assert not errors, f"browser errors: {errors}"
