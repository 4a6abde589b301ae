"""The page in real headless Chromium: the user's whole path in English and German.

Share → delivered to a real aggregation server → export → stop sharing with remote delete →
delete all, plus a failing delivery and DO_NOT_TRACK; every stage is checked for texts of the
other language. Screenshots go to docs/screenshots only with UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from printernizer_usage_core.models import AggregatedStats

from printernizer_usage_service.demo_stack import DEMO_FLEET, seed_history
from printernizer_usage_service.server import free_port
from tests.browser import CHROMIUM, chromium, screenshot_dir

from .conftest import RunningService, ServiceFactory
from .page_texts import BROWSER_LOCALE, LANGUAGES, assert_one_language, fixed_start, text
from .test_roundtrip import aggregation_server

pytestmark = pytest.mark.browser


if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

pytest.importorskip("playwright.async_api")

# How long the page may take to show an outcome; it polls /status itself, the test only waits.
SHOWN_MS = 60000


@pytest.fixture
async def browser() -> Any:
    async with chromium() as launched:
        yield launched


async def open_page(browser: Any, url: str, lang: str = "en", **options: Any) -> Any:
    """A page in `lang` (navigator.languages and Accept-Language), loaded and translated."""
    wait_loaded = options.pop("wait_loaded", True)
    context = await browser.new_context(
        locale=BROWSER_LOCALE[lang],
        viewport=options.pop("viewport", {"width": 1280, "height": 900}),
        **options,
    )
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    # Offline page: every request goes to the service itself (downloads are blob: URLs).
    origin = "/".join(url.split("/", 3)[:3])
    page.on(
        "request",
        lambda req: (
            None
            if req.url.startswith((origin + "/", "blob:", "data:"))
            else page.errors.append(f"request to {req.url}")
        ),
    )
    await page.goto(url)
    if wait_loaded:
        await page.wait_for_selector("body[data-loaded='true']")
    return page


async def served_page(
    start_service: ServiceFactory, browser: Any, lang: str, **options: Any
) -> tuple[RunningService, Any]:
    """A service started with `options` and its page open in `lang`."""
    svc = await start_service(**options)
    return svc, await open_page(browser, svc.url + "/", lang)


async def close_checked(page: Any, lang: str) -> None:
    """The page ends in one language and without script errors."""
    await assert_one_language(page, lang)
    assert page.errors == []
    await page.context.close()


async def shown(page: Any, selector: str) -> str:
    return (await page.locator(selector).text_content() or "").strip()


async def today_total(page: Any) -> int:
    value = await page.locator("#chart g.bar").last.get_attribute("data-total")
    return int(value or 0)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go (docs/screenshots with UPDATE_SCREENSHOTS=1)."""
    folder = screenshot_dir(tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshots(page: Any, svc: RunningService, lang: str, folder: Path) -> None:
    """Desktop and phone pictures; nothing may be wider than the phone's screen."""
    suffix = "" if lang == "en" else f"-{lang}"
    await page.evaluate(
        "() => { document.getElementById('toast').hidden = true; window.scrollTo(0, 0); }"
    )
    await page.screenshot(path=str(folder / f"service-desktop{suffix}.png"), full_page=True)
    mobile = await page.context.new_page()
    await mobile.set_viewport_size({"width": 390, "height": 844})
    await mobile.goto(svc.url + "/")
    await mobile.wait_for_selector("body[data-loaded='true']")
    await mobile.wait_for_selector("#delivery-line[data-delivered='true']")
    await mobile.screenshot(path=str(folder / f"service-mobile{suffix}.png"), full_page=True)
    overflow = await mobile.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await assert_one_language(mobile, lang)
    await mobile.close()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_share_deliver_export_stop_delete(
    lang: str,
    start_service: ServiceFactory,
    browser: Any,
    tmp_path: Path,
    shots: Path,
    http: aiohttp.ClientSession,
) -> None:
    data_dir = tmp_path / "flow"
    data_dir.mkdir()
    await seed_history(data_dir / "usage.db")
    async with aggregation_server(tmp_path) as (server_url, server_app):
        svc = await start_service(data_dir=data_dir, endpoint=server_url, submit=True)
        async with http.put(svc.api("/fleet"), json={"printers": DEMO_FLEET}):
            pass
        # The address users type: localhost, not 127.0.0.1.
        page = await open_page(
            browser, f"http://localhost:{svc.config.port}/", lang, accept_downloads=True
        )
        assert await page.locator("#sharing-pill").get_attribute("data-state") == "off"
        assert await page.title() == text(lang, "page.title")
        assert await shown(page, "#share-lead") == text(lang, "share.lead.off")
        # Before opting in the page already says where reports would go.
        assert await shown(page, "#endpoint-line") == text(
            lang, "endpoint.line", endpoint=server_url
        )
        await assert_one_language(page, lang)

        # Share: without a reload the page follows the round until the server has the report.
        await page.click("#btn-opt-in")
        await page.wait_for_selector("#delivery-line[data-delivered='true']", timeout=SHOWN_MS)
        assert await page.locator("#sharing-pill").get_attribute("data-state") == "on"
        assert (await shown(page, "#delivery-line")).startswith(fixed_start(lang, "delivery.last"))
        settings = await (await http.get(svc.api("/settings"))).json()
        known, _ = await server_app.config["REPOSITORY"].deletion_key_hash(
            settings["installation_id"]
        )
        assert known
        assert await page.locator("#toast").get_attribute("data-keys") == "toast.opted_in"
        await assert_one_language(page, lang)

        # Send now: the week is already delivered, and the page says that, not "sent or not".
        await page.click("#btn-send-now")
        await page.wait_for_selector("body[data-last-submit]")
        assert await page.locator("body").get_attribute("data-last-submit") == "nothing_due"
        assert (await shown(page, "#toast")).startswith(fixed_start(lang, "toast.nothing_due"))
        await assert_one_language(page, lang)

        await screenshots(page, svc, lang, shots)

        # Export: a real download of valid JSON.
        async with page.expect_download() as info:
            await page.click("#btn-export")
        download = await info.value
        assert download.suggested_filename.startswith("printernizer-usage-export-")
        target = tmp_path / download.suggested_filename
        await download.save_as(target)
        assert json.loads(target.read_text())["settings"]["opted_in"] is True

        # Stop sharing and ask the server to delete its copy.
        await page.click("#btn-opt-out")
        await page.wait_for_selector("#dlg-opt-out[open]")
        await page.check("#opt-out-remote")
        await page.click("#dlg-opt-out-confirm")
        await page.wait_for_selector("#sharing-pill[data-state='off']")
        assert await page.locator("#toast").get_attribute("data-keys") == (
            "toast.opted_out toast.remote_deleted"
        )
        known, _ = await server_app.config["REPOSITORY"].deletion_key_hash(
            settings["installation_id"]
        )
        assert not known

        # Delete everything: cancel first, then confirm.
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
        # Still the configured server, not "the project server (default)".
        assert await shown(page, "#f-endpoint") == server_url
        assert await shown(page, "#endpoint-line") == text(
            lang, "endpoint.line", endpoint=server_url
        )
        await close_checked(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_failing_delivery_is_shown_with_its_error(
    lang: str, start_service: ServiceFactory, browser: Any
) -> None:
    # Nothing listens on this port: every round fails to connect.
    endpoint = f"http://127.0.0.1:{free_port()}"
    svc, page = await served_page(start_service, browser, lang, endpoint=endpoint, submit=True)
    await page.click("#btn-opt-in")
    await page.wait_for_selector("#sharing-pill[data-state='failing']", timeout=SHOWN_MS)
    status = await (await page.request.get(svc.api("/status"))).json()
    assert status["last_error"]
    line = await shown(page, "#delivery-line")
    assert text(lang, "delivery.failed", error=status["last_error"]) in line
    assert text(lang, "delivery.none") in line
    assert await page.locator("#share-lead").get_attribute("data-key") == "share.lead.failing"
    assert await page.locator("#delivery-line").get_attribute("class") == "note warn"
    await assert_one_language(page, lang)

    # Sending by hand fails the same way, and the page says so (with the error).
    await page.click("#btn-send-now")
    await page.wait_for_selector("body[data-last-submit]")
    assert await page.locator("body").get_attribute("data-last-submit") == "failed"
    assert await page.locator("#toast").get_attribute("class") == "toast bad"
    assert (await shown(page, "#toast")).startswith(fixed_start(lang, "toast.send_failed"))
    await close_checked(page, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_do_not_track_says_sending_is_blocked(
    lang: str, start_service: ServiceFactory, browser: Any
) -> None:
    _, page = await served_page(
        start_service, browser, lang, environ={"DO_NOT_TRACK": "1"}, submit=True
    )
    assert await page.locator("#sharing-pill").get_attribute("data-state") == "blocked"
    assert await shown(page, "#share-lead") == text(lang, "share.lead.blocked_off")
    await assert_one_language(page, lang)

    await page.click("#btn-opt-in")
    await page.wait_for_selector("#btn-opt-out:visible")
    # Agreeing does not make the page say "on": it says sending is blocked, and why.
    assert await page.locator("#sharing-pill").get_attribute("data-state") == "blocked"
    lead = await shown(page, "#share-lead")
    assert lead == text(lang, "share.lead.blocked_on")
    assert "DO_NOT_TRACK" in lead
    assert text(lang, "share.lead.on") not in await shown(page, "main")
    assert await page.locator("#toast").get_attribute("data-keys") == "toast.opted_in_blocked"
    assert not await page.locator("#btn-send-now").is_visible()
    assert not await page.locator("#delivery-line").is_visible()
    await close_checked(page, lang)


# What "Send report now" says, from the status before and the answer after.
EARLIER = "2026-12-01T10:00:00+00:00"
NOW = "2026-12-02T10:00:00+00:00"
NEXT = "2026-12-09T10:00:00+00:00"
BEFORE = {"last_success": EARLIER, "last_attempt": EARLIER, "last_error": None}
OUTCOMES = [
    # The API names the reports it delivered (the field this page asks for) ...
    ({**BEFORE, "delivered_periods": 2, "pending_periods": 0}, "delivered", "toast.delivered"),
    (
        {**BEFORE, "delivered_periods": 0, "pending_periods": 0, "next_attempt": NEXT},
        "nothing_due",
        "toast.nothing_due",
    ),
    # ... or the page compares the delivery times.
    (
        {**BEFORE, "last_success": NOW, "last_attempt": NOW, "pending_periods": 0},
        "delivered",
        "toast.delivered",
    ),
    (
        {
            **BEFORE,
            "last_attempt": NOW,
            "last_error": "HTTP 503",
            "pending_periods": 1,
            "next_attempt": NEXT,
        },
        "failed",
        "toast.send_failed",
    ),
    (
        {**BEFORE, "last_error": "invalid endpoint: x", "pending_periods": 0},
        "failed",
        "toast.send_failed",
    ),
    ({**BEFORE, "pending_periods": 1, "next_attempt": NEXT}, "queued", "toast.queued"),
    (
        {**BEFORE, "pending_periods": 0, "next_attempt": None},
        "nothing_due",
        "toast.nothing_due_later",
    ),
]


async def test_send_now_names_what_happened(start_service: ServiceFactory, browser: Any) -> None:
    svc = await start_service()
    page = await open_page(browser, svc.url + "/")
    for after, outcome, key in OUTCOMES:
        message = await page.evaluate(
            "([before, after]) => submitMessage(before, after)", [BEFORE, after]
        )
        assert await page.locator("body").get_attribute("data-last-submit") == outcome, after
        assert message["parts"][0][0] == key, after
        assert message["bad"] is (outcome == "failed"), after
    await page.context.close()


async def test_page_round_trip(
    start_service: ServiceFactory, browser: Any, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    """The preview is the served bytes; events recorded through the API reach the chart."""
    svc = await start_service()
    page = await open_page(browser, svc.url + "/")
    await page.click("#btn-opt-in")
    await page.wait_for_selector("#sharing-pill[data-state='on']")
    settings = await (await http.get(svc.api("/settings"))).json()
    assert settings["opted_in"] is True
    assert settings["consent_version"] == await page.locator("body").get_attribute(
        "data-consent-version"
    )

    # The preview on the page is the exact text the API serves.
    await page.click("#btn-view-exact")
    shown_text = await page.locator("#payload-text").text_content()
    served = await (await http.get(svc.api("/preview"))).text()
    assert shown_text == served
    AggregatedStats.model_validate_json(shown_text or "")
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
    await close_checked(page, "en")


async def test_without_javascript_the_page_says_it_needs_it(
    start_service: ServiceFactory, browser: Any
) -> None:
    svc = await start_service()
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(svc.url + "/")
    assert await page.locator(".noscript").is_visible()
    assert not await page.locator("#btn-opt-in").is_visible()
    await context.close()


async def test_token_prompt(start_service: ServiceFactory, browser: Any) -> None:
    token = "browser-token-123456"
    svc = await start_service(host="0.0.0.0", token=token)
    page = await open_page(browser, svc.url + "/", wait_loaded=False)
    # The page asks once, before its first load: the reads that show identity need the token.
    await page.wait_for_selector("#dlg-token[open]")
    await page.fill("#token-input", token)
    await page.click("#dlg-token button[value='confirm']")
    await page.wait_for_selector("body[data-loaded='true']")
    assert await page.locator("dialog[open]").count() == 0
    assert not page.errors
    await page.click("#btn-opt-in")
    await page.wait_for_selector("#sharing-pill[data-state='on']")
    assert await page.locator("#dlg-token[open]").count() == 0
    await page.context.close()


async def test_api_docs_page_fits_a_phone_and_loads_cleanly(
    start_service: ServiceFactory, browser: Any
) -> None:
    svc = await start_service()
    for width in (1280, 360):
        page = await open_page(
            browser, svc.url + "/docs", viewport={"width": width, "height": 800}, wait_loaded=False
        )
        await page.wait_for_selector(".endpoint")
        await page.wait_for_load_state("networkidle")
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{width} px: {overflow} px wider than the screen"
        assert page.errors == [], page.errors  # no 404 (favicon), no script error
        await page.context.close()
