"""Printernizer's own settings-page script, unchanged, in headless Chromium against our service.

The script (frontend/js/usage-statistics.js) is Printernizer's and AGPL-licensed; it is not
committed here — fixtures/README.md says where it comes from and how to place it. The page
around it is a stand-in for Printernizer's settings tab: the element ids the script looks
for, the buttons Printernizer's index.html wires to it, and its Logger.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser import CHROMIUM, chromium
from tests.service.conftest import RunningService

from . import upstream_page_calls as calls
from .settings_tab import open_settings_tab
from .test_upstream_api import record_call_sites

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).parent / "fixtures" / "usage-statistics.js"
SCRIPT_SHA256 = "6e3fe9f11fca57646651e2209973d6de28e69b27ab8b0d8ffe6099b6497d42e9"

if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
if not SCRIPT.is_file():  # pragma: no cover - the AGPL fixture is placed by hand
    pytest.skip(
        "Printernizer's usage-statistics.js is not in tests/adoption/fixtures "
        "(AGPL, not committed; see fixtures/README.md)",
        allow_module_level=True,
    )
pytest.importorskip("playwright.async_api")

# What Printernizer's settings tab offers the script (ids from its index.html wiring).
SETTINGS_PAGE = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Printernizer settings</title>
<script>
  window.__logged = [];
  window.Logger = {
    debug() {}, info() {},
    warn(...args) { window.__logged.push(['warn', String(args[0])]); },
    error(...args) { window.__logged.push(['error', args.map(String).join(' ')]); },
  };
</script>
<script src="/printernizer/js/usage-statistics.js"></script>
</head><body>
<section id="settings" class="page active">
  <label><input type="checkbox" id="usageStatsOptIn" onchange="usageStatistics.toggleOptIn()">
    Anonyme Nutzungsstatistiken teilen</label>
  <div id="usageStatsOptInMessage" style="display:none"></div>
  <div id="usageStatsLocalData"></div>
  <button id="refresh" onclick="usageStatistics.refreshLocalStats()">Aktualisieren</button>
  <button id="export" onclick="usageStatistics.exportData()">Exportieren</button>
  <button id="delete" onclick="usageStatistics.deleteAllData()">Alle Daten löschen</button>
</section>
</body></html>
"""


# The script's requests and the answers' fields it reads, as it writes them.
FETCH = re.compile(r"fetch\(\s*'([^']+)'\s*(?:,\s*\{\s*method:\s*'(\w+)'\s*\})?")
FIELD_READ = re.compile(r"(?<![.\w$])(status|result|stats)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)")
# The script's variable for each answer: `status` of loadStatus, `result` of the writes.
ANSWER_VARIABLE = {
    "GET /api/v1/usage-stats/status": "status",
    "GET /api/v1/usage-stats/local": "stats",
}


def test_the_call_table_is_the_scripts() -> None:
    """upstream_page_calls, which the CI-run browser test replays, names exactly these calls."""
    script = SCRIPT.read_text(encoding="utf-8")
    assert hashlib.sha256(script.encode()).hexdigest() == SCRIPT_SHA256
    made = {(method or "GET", path) for path, method in FETCH.findall(script)}
    assert made == {(c.method, c.path) for c in calls.PAGE_CALLS}
    assert {c.path for c in calls.PAGE_CALLS if c.blob} == {
        "/api/v1/usage-stats/export"
    } and ".blob()" in script
    read: dict[str, set[str]] = {}
    for variable, path in FIELD_READ.findall(script):
        # `stats.total_events.toLocaleString` reads total_events, then calls a method on it.
        name = path.split(".toLocaleString")[0]
        read.setdefault(variable, set()).add(name)
    tabled: dict[str, set[str]] = {}
    for c in calls.PAGE_CALLS:
        variable = ANSWER_VARIABLE.get(f"{c.method} {c.path}", "result")
        tabled.setdefault(variable, set()).update(r.path for r in c.reads)
    assert read == tabled


@pytest.fixture
async def browser() -> Any:
    async with chromium() as launched:
        yield launched


async def open_settings(browser: Any, svc: RunningService) -> Any:
    """Printernizer's settings tab served from the service's origin (so its fetches hit us)."""
    script = SCRIPT.read_bytes()
    assert hashlib.sha256(script).hexdigest() == SCRIPT_SHA256, "not Printernizer's script"
    return await open_settings_tab(browser, svc, SETTINGS_PAGE, {"js/usage-statistics.js": script})


async def local_data(page: Any) -> str:
    return " ".join((await page.locator("#usageStatsLocalData").inner_text()).split())


async def message(page: Any) -> str:
    return (await page.locator("#usageStatsOptInMessage").text_content() or "").strip()


async def test_printernizers_page_works_unchanged(
    svc: RunningService, browser: Any, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    page = await open_settings(browser, svc)
    # Status and local statistics load: not shared yet, nothing recorded.
    await page.wait_for_function(
        "document.querySelector('#usageStatsLocalData .stats-grid') !== null"
    )
    assert await page.locator("#usageStatsOptIn").is_checked() is False
    shown = await local_data(page)
    assert "not_generated" in shown and "○ Inaktiv" in shown

    # Opting in with the checkbox: Printernizer's success message, the id on the page.
    await page.locator("#usageStatsOptIn").check()
    await page.wait_for_function(
        "document.getElementById('usageStatsOptInMessage').textContent.includes('enabled')"
    )
    settings = await svc.runtime.service.get_settings()
    assert settings.opted_in
    await page.wait_for_function(
        f"document.getElementById('usageStatsLocalData').innerText.includes('{settings.installation_id}')"
    )
    assert "✓ Aktiv" in await local_data(page)

    # Printernizer records its call sites; the refreshed view counts them.
    accepted = await record_call_sites(http, svc)
    await page.locator("#refresh").click()
    await page.wait_for_function(
        "document.getElementById('usageStatsLocalData').innerText.includes('Gesammelte Events')"
        f" && document.getElementById('usageStatsLocalData').innerText.includes('{accepted}')"
    )
    shown = await local_data(page)
    assert "Druckaufträge 3" in shown and "Datei-Downloads 1" in shown and "Fehler 2" in shown

    # Export downloads the JSON file with Printernizer's keys.
    async with page.expect_download() as download_info:
        await page.locator("#export").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    exported = json.loads(saved.read_text())
    assert len(exported["events"]) == accepted and exported["export_version"] == "1.0"

    # Delete all, confirming Printernizer's dialog.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("#delete").click()
    await page.wait_for_function(
        "document.getElementById('usageStatsOptInMessage').textContent"
        f".includes('Alle lokalen Statistiken gelöscht ({accepted} Events)')"
    )
    await page.wait_for_function(
        "document.getElementById('usageStatsLocalData').innerText.includes('not_generated')"
    )
    assert (await svc.runtime.service.store.count_events())[0] == 0

    # Opting out again with the checkbox (after a reload, as the user would see it).
    await page.reload()
    await page.wait_for_function(
        "document.querySelector('#usageStatsLocalData .stats-grid') !== null"
    )
    await page.locator("#usageStatsOptIn").check()
    await page.wait_for_function(
        "document.getElementById('usageStatsOptInMessage').textContent.includes('enabled')"
    )
    await page.locator("#usageStatsOptIn").uncheck()
    await page.wait_for_function(
        "document.getElementById('usageStatsOptInMessage').textContent.includes('disabled')"
    )
    assert not (await svc.runtime.service.get_settings()).opted_in

    assert page.errors == []
    assert await page.evaluate("window.__logged") == []
    await page.context.close()
