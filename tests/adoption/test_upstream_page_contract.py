"""Every request of Printernizer's settings page, made from headless Chromium against our service.

The browser half of the adoption proof that runs everywhere: the calls come from
upstream_page_calls (transcribed from Printernizer's usage-statistics.js, and checked
against it by test_upstream_page.py wherever the AGPL script is placed). Each call is made
the way the script makes it (same-origin `fetch` with the same `init`, so Chromium adds its
own Origin and Sec-Fetch headers), and each field the script reads goes through the same
JavaScript it applies (`toLocaleString`, `new Date`, `|| 0`), so a string where the script
expects a number, or a date it cannot parse, fails here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import aiohttp
import pytest

from tests.browser import CHROMIUM, chromium
from tests.service.conftest import RunningService

from . import upstream_page_calls as calls
from .settings_tab import open_settings_tab
from .test_upstream_api import record_call_sites

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):  # pragma: no cover - depends on the machine
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
pytest.importorskip("playwright.async_api")

# Makes one call as the script does and applies the script's own handling to each read.
CALL_AS_THE_PAGE_DOES = """
async (call) => {
  const response = call.method === 'GET'
    ? await fetch(call.path)
    : await fetch(call.path, { method: call.method });
  const out = { ok: response.ok, status: response.status, problems: [], shown: {} };
  if (call.blob) {
    const blob = await response.blob();
    out.blobType = blob.type;
    out.text = await blob.text();
    return out;
  }
  const body = await response.json();
  for (const read of call.reads) {
    const value = read.path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), body);
    const wrong = (what) => out.problems.push(`${read.path}: ${what} (${JSON.stringify(value)})`);
    switch (read.use) {
      case 'bool':
        if (typeof value !== 'boolean') wrong('not a boolean');
        out.shown[read.path] = value;
        break;
      case 'text':
        if (typeof value !== 'string') wrong('not a string');
        out.shown[read.path] = String(value);
        break;
      case 'number':
        if (typeof value !== 'number') wrong('not a number');
        else out.shown[read.path] = value.toLocaleString('de-DE');
        break;
      case 'number_or_0':
        if (value && typeof value !== 'number') wrong('not a number');
        else out.shown[read.path] = (value || 0).toLocaleString('de-DE');
        break;
      case 'date':
        if (value == null || value === '') {
          if (!read.optional) wrong('missing');
          out.shown[read.path] = null;
        } else if (isNaN(new Date(value))) {
          wrong('not a date');
        } else {
          out.shown[read.path] = new Date(value).toLocaleDateString('de-DE');
        }
        break;
      default:
        wrong(`unknown use ${read.use}`);
    }
  }
  return out;
}
"""


@pytest.fixture
async def page(svc: RunningService) -> Any:
    """A page of the service's own origin, as Printernizer's settings tab is."""
    async with chromium() as browser:
        tab = await open_settings_tab(browser, svc, "<!doctype html><title>settings</title>")
        yield tab
        assert tab.errors == []


async def call(page: Any, which: calls.PageCall) -> dict[str, Any]:
    """Make `which` from the page; fail on an error status or a read the script would mishandle."""
    out: dict[str, Any] = await page.evaluate(CALL_AS_THE_PAGE_DOES, dataclasses.asdict(which))
    assert out["ok"], f"{which.name}: HTTP {out['status']}"
    assert out["problems"] == [], f"{which.name}: {out['problems']}"
    return out


async def test_every_call_of_printernizers_page_from_chromium(
    svc: RunningService, page: Any, http: aiohttp.ClientSession
) -> None:
    assert set(calls.PAGE_CALLS) == {
        calls.STATUS,
        calls.OPT_IN,
        calls.OPT_OUT,
        calls.LOCAL,
        calls.EXPORT,
        calls.DELETE,
    }
    # Before opt-in: not shared, no identity, nothing recorded.
    assert (await call(page, calls.STATUS))["shown"]["opted_in"] is False
    local = (await call(page, calls.LOCAL))["shown"]
    assert local["installation_id"] == "not_generated" and local["opt_in_status"] == "disabled"
    assert local["total_events"] == "0" and local["this_week.job_count"] == "0"

    # The checkbox: opt-in from the page (a POST with no body, Chromium's Origin header).
    opted = (await call(page, calls.OPT_IN))["shown"]
    assert opted["success"] is True and opted["message"]
    assert (await call(page, calls.STATUS))["shown"]["opted_in"] is True
    installation_id = str((await svc.runtime.service.get_settings()).installation_id)
    local = (await call(page, calls.LOCAL))["shown"]
    assert local["installation_id"] == installation_id and local["opt_in_status"] == "enabled"
    assert local["first_seen"] is None  # the oldest event's day, as upstream: none yet

    # Printernizer's call sites recorded; the page's counters show them.
    accepted = await record_call_sites(http, svc)
    local = (await call(page, calls.LOCAL))["shown"]
    assert local["total_events"] == f"{accepted:,}".replace(",", ".")
    assert (local["this_week.job_count"], local["this_week.file_count"]) == ("3", "1")
    assert local["this_week.error_count"] == "2"
    assert local["first_seen"]  # now a date the page can parse and show

    # Export: the download the page saves is JSON with every recorded event.
    exported = await call(page, calls.EXPORT)
    assert exported["blobType"].startswith("application/json")
    document = json.loads(exported["text"])
    assert len(document["events"]) == accepted and document["export_version"] == "1.0"

    # Delete all, as after the page's confirm(); then opt out with the checkbox.
    deleted = (await call(page, calls.DELETE))["shown"]
    assert deleted["success"] is True and deleted["deleted_events"] == str(accepted)
    assert (await svc.runtime.service.store.count_events())[0] == 0
    out = (await call(page, calls.OPT_OUT))["shown"]
    assert out["success"] is True and out["message"]
    assert (await call(page, calls.STATUS))["shown"]["opted_in"] is False
    assert not (await svc.runtime.service.get_settings()).opted_in
