"""Headless Chromium against the real server (hypercorn, demo data): login, charts, CSV, shots."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ADMIN_KEY, free_port
from test_reports_email import SmtpSink, smtp_sink  # noqa: F401 - fixture re-export

from aggregation import reports
from aggregation.dashboard import charts
from tests.browser import CHROMIUM, CHROMIUM_ARGS, screenshot_dir

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHARTS = [c for c in charts.CHART_IDS if c not in {"anomalies", "kpis"}]


@contextlib.contextmanager
def _serve(tmp: Path, **extra: str) -> Iterator[str]:
    """`python -m aggregation` (hypercorn) on 127.0.0.1 with the demo history loaded."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'agg.db'}",
        "API_KEY": ADMIN_KEY,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DEMO_DATA": "true",
        "PUBLIC_PAGE": "true",
        "REPORT_SCHEDULE": "off",
        "SESSION_COOKIE_SECURE": "false",
        "REPORTS_DIR": str(tmp / "reports"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregation"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"server did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server with demo data, for the whole module."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with _serve(tmp_path_factory.mktemp("browser")) as base:
        yield base


# A canvas counts as drawn when a fair number of its pixels are not transparent.
DRAWN_PIXELS = """
(canvas) => {
  const ctx = canvas.getContext('2d');
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted;
}
"""


async def test_dashboard_in_chromium(server: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    SHOTS = screenshot_dir(tmp_path)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 1440, "height": 900}, accept_downloads=True
            )
            page = await context.new_page()
            foreign: list[str] = []
            errors: list[str] = []
            page.on(
                "request",
                lambda req: None if req.url.startswith(server) else foreign.append(req.url),
            )
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

            await page.goto(f"{server}/dashboard")
            assert page.url.endswith("/dashboard/login"), "no session: the login form"
            await page.fill("#api_key", "wrong-key")
            await page.click("button[type=submit]")
            assert "not right" in (await page.text_content(".alert") or "")
            errors.clear()  # the refused login's 401 is expected; nothing else may fail
            await page.fill("#api_key", ADMIN_KEY)
            await page.click("button[type=submit]")
            await page.wait_for_selector("body[data-ready='true']", timeout=20_000)
            assert page.url.endswith("/dashboard")

            for chart_id in CHARTS:
                card = page.locator(f"#chart-{chart_id}")
                assert await card.get_attribute("data-state") == "rendered", chart_id
                canvas = card.locator("canvas")
                points = await canvas.evaluate(
                    "(c) => Chart.getChart(c).data.datasets"
                    ".reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0)"
                )
                assert points > 0, chart_id
                assert await canvas.evaluate(DRAWN_PIXELS) > 500, f"{chart_id} drawn"
            assert await page.locator(".empty").count() == 0
            assert await page.locator(".kpi").count() == 4
            assert await page.locator(".anomaly[data-kind='error_spike']").count() >= 1
            assert "MQTTDisconnectError" in (await page.text_content("#anomaly-list") or "")

            async with page.expect_download() as info:
                await page.click("#chart-geography a.csv")
            download = await info.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert download.suggested_filename == "geography.csv"
            assert saved.read_text().startswith("country,Installations\n")

            await page.evaluate("window.scrollTo(0, 0)")  # the sticky bar belongs at the top
            await page.wait_for_timeout(600)  # let the chart animations settle
            await page.screenshot(path=str(SHOTS / "dashboard-desktop.png"), full_page=True)

            state = await context.storage_state()
            phone = await browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                storage_state=state,
            )
            mobile = await phone.new_page()
            await mobile.goto(f"{server}/dashboard")
            await mobile.wait_for_selector("body[data-ready='true']", timeout=20_000)
            width = await mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, "no horizontal scrolling on a phone"
            await mobile.wait_for_timeout(600)
            await mobile.screenshot(path=str(SHOTS / "dashboard-mobile.png"), full_page=True)

            # Signing out ends the session for good, also for a copy of the cookie taken before.
            await page.click("text=Sign out")
            await page.wait_for_url(f"{server}/dashboard/login")
            await page.goto(f"{server}/dashboard")
            assert page.url.endswith("/dashboard/login")
            assert any(c["name"] == "aggregation_session" for c in state["cookies"])
            copied = await browser.new_context(storage_state=state)
            stolen = await copied.new_page()
            await stolen.goto(f"{server}/dashboard")
            assert stolen.url.endswith("/dashboard/login"), "the copied cookie opens nothing"
            await copied.close()

            public = await context.new_page()
            await public.goto(f"{server}/community")
            assert await public.locator(".bar-label").count() > 0
            await public.screenshot(path=str(SHOTS / "dashboard-community.png"), full_page=True)
            await phone.close()
            await context.close()
        finally:
            await browser.close()
    assert not foreign, f"requests left the server (the page must work offline): {foreign}"
    assert not errors, f"browser errors: {errors}"


@pytest.fixture
def chromium() -> str:
    """Chromium's path (the test is skipped without it)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    return CHROMIUM


async def test_reports_panel_in_chromium(
    tmp_path: Path,
    smtp_sink: SmtpSink,  # noqa: F811
    chromium: str,
) -> None:
    """Generate a past week's report from the form and send a test e-mail with the button."""
    from playwright.async_api import async_playwright

    smtp = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_sink.port),
        "SMTP_FROM": "stats@example.org",
        "REPORT_EMAIL_TO": "maintainer@example.org",
        "ALERTS": "false",
    }
    week = reports.previous_period(reports.last_complete_period("weekly", datetime.now(UTC).date()))
    # Starting and stopping the server block: off the event loop, where the SMTP sink runs.
    stack = contextlib.ExitStack()
    base = await asyncio.to_thread(stack.enter_context, _serve(tmp_path, **smtp))
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{base}/dashboard/login")
                await page.fill("#api_key", ADMIN_KEY)
                await page.click("button[type=submit]")
                await page.wait_for_selector("body[data-ready='true']", timeout=20_000)
                assert "none yet" in (await page.text_content("#last-delivery") or "")
                await page.fill("#reports input[name=period]", week.label)
                await page.click("#reports button:has-text('Generate report')")
                await page.wait_for_load_state()
                text = await page.text_content("body") or ""
                assert f"weekly report {week.label}" in text
                assert f"ISO week {week.label}, Monday to Sunday" in text
                await page.go_back()
                await page.wait_for_selector("body[data-ready='true']", timeout=20_000)
                await page.click("#send-test-email")
                await page.wait_for_url(f"{base}/dashboard#reports")
                await page.wait_for_selector("body[data-ready='true']", timeout=20_000)
                delivered = await page.text_content("#last-delivery") or ""
                assert delivered.startswith("Delivered") and "test e-mail" in delivered
            finally:
                await browser.close()
    finally:
        await asyncio.to_thread(stack.close)
    assert len(smtp_sink.messages) == 1


# Per trend chart, the drawing of a week column: the share of a thin strip's pixels painted
# (a suppressed week is shaded from top to bottom; a week without data is not), and the
# tooltip shown when the pointer rests on the week's marker on the axis.
WEEK_COLUMN = """
([canvas, j]) => {
  const chart = Chart.getChart(canvas);
  chart.update('none');  // drawn now, without animation
  const ratio = chart.currentDevicePixelRatio, area = chart.chartArea;
  const x = Math.round(chart.scales.x.getPixelForValue(j) * ratio);
  const top = Math.round(area.top * ratio), bottom = Math.round(area.bottom * ratio);
  const data = canvas.getContext('2d').getImageData(x - 2, top, 5, bottom - top).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted / (data.length / 4);
}
"""
MARKS = """
(canvas) => {
  const chart = Chart.getChart(canvas);
  const index = chart.data.datasets.findIndex((d) => d.suppressedNames);
  const marks = chart.data.datasets[index];
  return {
    label: marks.label,
    legend: chart.legend.legendItems.map((item) => item.text),
    marked: marks.data.map((v) => v !== null),
    lines: chart.data.datasets.filter((d) => !d.suppressedNames).map((d) => d.data),
    points: chart.getDatasetMeta(index).data.map((p) => [p.x, p.y]),
  };
}
"""
TOOLTIP = """
(canvas) => {
  const tip = Chart.getChart(canvas).tooltip;
  return tip && tip.body ? tip.body.flatMap((b) => b.lines).join(' | ') : '';
}
"""


async def test_suppressed_weeks_in_chromium(tmp_path: Path, chromium: str) -> None:
    """Feature and error-rate trends mark k-suppressed weeks (band, legend, tooltip) and leave
    a week without data a plain gap."""
    from playwright.async_api import async_playwright
    from test_dashboard_figures import suppressed_and_empty_weeks

    from aggregation.demo_data import load_into_repository
    from aggregation.storage import open_repository

    repository = await open_repository(f"sqlite:///{tmp_path / 'agg.db'}")
    try:
        await load_into_repository(repository, suppressed_and_empty_weeks(datetime.now(UTC).date()))
    finally:
        await repository.close()
    stack = contextlib.ExitStack()
    base = await asyncio.to_thread(stack.enter_context, _serve(tmp_path, DEMO_DATA="false"))
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1440, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(f"{base}/dashboard/login")
                await page.fill("#api_key", ADMIN_KEY)
                await page.click("button[type=submit]")
                await page.wait_for_selector("body[data-ready='true']", timeout=20_000)
                for chart_id, series in (
                    ("feature_trends", "auto_job_creation"),
                    ("error_rate_trend", "TimeoutError"),
                ):
                    canvas = page.locator(f"#chart-{chart_id} canvas")
                    await canvas.scroll_into_view_if_needed()
                    marks = await canvas.evaluate(MARKS)
                    note = "Suppressed (fewer than 5 installations)"
                    assert marks["label"] == note and note in marks["legend"], chart_id
                    # The six newest weeks: shown, suppressed, no data, shown, suppressed, shown.
                    n = len(marks["marked"])
                    assert marks["marked"][-6:] == [False, True, False, False, True, False]
                    assert all(v is None for v in marks["lines"][0][-5:-3]), "no point drawn"
                    suppressed, empty = n - 5, n - 4
                    column = [
                        await page.evaluate(WEEK_COLUMN, [await canvas.element_handle(), j])
                        for j in (suppressed, empty)
                    ]
                    assert column[0] > 0.9, f"{chart_id}: the suppressed week is shaded"
                    assert column[1] < 0.2, f"{chart_id}: a week without data is a gap"
                    box = await canvas.bounding_box()
                    assert box is not None
                    x, y = marks["points"][suppressed]
                    await page.mouse.move(box["x"] + x, box["y"] + y - 2)
                    await page.wait_for_function(
                        f"(c) => ({TOOLTIP})(c).includes('fewer than 5')",
                        arg=await canvas.element_handle(),
                    )
                    tooltip = await canvas.evaluate(TOOLTIP)
                    assert f"Suppressed, fewer than 5 installations: {series}" in tooltip
                assert not errors, errors
            finally:
                await browser.close()
    finally:
        await asyncio.to_thread(stack.close)
