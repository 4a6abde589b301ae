"""The page in real headless Chromium: opt in, read the preview, watch the chart, export, delete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp
import pytest
from printernizer_usage_core.models import AggregatedStats

from printernizer_usage_service.demo_stack import DEMO_FLEET, seed_history
from tests.browser import CHROMIUM, CHROMIUM_ARGS, screenshot_dir

from .conftest import ServiceFactory

pytestmark = pytest.mark.browser


if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

async_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def browser():
    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def today_total(page) -> int:
    value = await page.locator("#chart g.bar").last.get_attribute("data-total")
    return int(value or 0)


async def test_page_round_trip(
    start_service: ServiceFactory, browser, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data_dir = tmp_path / "browser"
    data_dir.mkdir()
    await seed_history(data_dir / "usage.db")
    svc = await start_service(data_dir=data_dir)
    errors: list[str] = []
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(svc.url + "/")
    await page.wait_for_selector("body[data-loaded='true']")
    assert await page.locator("#sharing-pill").get_attribute("data-state") == "off"

    # Opt in: the pill and the buttons follow, the consent version is recorded.
    await page.click("#btn-opt-in")
    await page.wait_for_selector("#sharing-pill[data-state='on']")
    assert await page.locator("#btn-opt-out").is_visible()
    settings = await (await http.get(svc.api("/settings"))).json()
    assert settings["opted_in"] is True
    assert settings["consent_version"] == await page.locator("body").get_attribute(
        "data-consent-version"
    )

    # The preview on the page is the exact text the API serves.
    await page.click("#btn-view-exact")
    shown = await page.locator("#payload-text").text_content()
    served = await (await http.get(svc.api("/preview"))).text()
    assert shown == served
    AggregatedStats.model_validate_json(shown or "")
    await page.click("#btn-view-formatted")
    assert json.loads(await page.locator("#payload-text").text_content() or "") == json.loads(
        served
    )

    # Events recorded through the API show up in the chart after a refresh.
    before = await today_total(page)
    async with http.post(
        svc.api("/events"),
        json={
            "events": [{"event_type": "job_completed", "metadata": {"printer_type": "bambu_lab"}}]
            * 7
        },
    ) as response:
        assert (await response.json())["accepted"] == 7
    async with http.put(svc.api("/fleet"), json={"printers": DEMO_FLEET}):
        pass
    async with http.put(
        svc.api("/features"), json={"features": {"auto_download": True, "timelapse": False}}
    ):
        pass
    await page.click("[data-days='14']")
    await page.wait_for_function(
        "(want) => Number(document.querySelector('#chart g.bar:last-of-type').dataset.total) >= want",
        arg=before + 7,
    )
    assert await page.locator("#chart g.bar").count() == 14
    assert await today_total(page) == before + 7
    assert await page.locator("[data-stat='jobs_completed']").text_content() != "0"
    await page.click("[data-days='30']")
    await page.wait_for_function("() => document.querySelectorAll('#chart g.bar').length === 30")

    SCREENSHOTS = screenshot_dir(tmp_path / "shots")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # A clean picture: no toast left over from opting in, scrolled to the top.
    await page.evaluate(
        "() => { document.getElementById('toast').hidden = true; window.scrollTo(0, 0); }"
    )
    await page.screenshot(path=str(SCREENSHOTS / "service-desktop.png"), full_page=True)
    mobile = await context.new_page()
    await mobile.set_viewport_size({"width": 390, "height": 844})
    await mobile.goto(svc.url + "/")
    await mobile.wait_for_selector("body[data-loaded='true']")
    await mobile.screenshot(path=str(SCREENSHOTS / "service-mobile.png"), full_page=True)
    # Nothing may be wider than a phone screen.
    overflow = await mobile.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await mobile.close()

    # Export: a real download of valid JSON.
    async with page.expect_download() as info:
        await page.click("#btn-export")
    download = await info.value
    assert download.suggested_filename.startswith("printernizer-usage-export-")
    target = tmp_path / download.suggested_filename
    await download.save_as(target)
    exported = json.loads(target.read_text())
    assert exported["settings"]["opted_in"] is True

    # Opt out through the confirmation dialog.
    await page.click("#btn-opt-out")
    await page.wait_for_selector("#dlg-opt-out[open]")
    await page.click("#dlg-opt-out-confirm")
    await page.wait_for_selector("#sharing-pill[data-state='off']")

    # Delete everything through the confirmation dialog: cancel first, then confirm.
    await page.click("#btn-delete")
    await page.wait_for_selector("#dlg-delete[open]")
    await page.click("#dlg-delete button[value='cancel']")
    assert (await (await http.get(svc.api("/local"))).json())["total_events"] > 0
    await page.click("#btn-delete")
    await page.click("#dlg-delete-confirm")
    await page.wait_for_function("() => document.querySelector('#chart').dataset.total === '0'")
    local = await (await http.get(svc.api("/local"))).json()
    assert local["total_events"] == 0
    assert local["settings"]["installation_id"] is None
    assert errors == []
    await context.close()


async def test_token_prompt(start_service: ServiceFactory, browser) -> None:
    token = "browser-token-123456"
    svc = await start_service(host="0.0.0.0", token=token)
    page = await browser.new_page()
    await page.goto(svc.url + "/")
    await page.wait_for_selector("body[data-loaded='true']")
    await page.click("#btn-opt-in")
    await page.wait_for_selector("#dlg-token[open]")
    await page.fill("#token-input", token)
    await page.click("#dlg-token button[value='confirm']")
    await page.wait_for_selector("#sharing-pill[data-state='on']")
    await page.close()
