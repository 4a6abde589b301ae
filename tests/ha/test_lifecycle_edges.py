"""Edges of the entry's life: actions while it closes, a damaged database, its repair issue."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from custom_components.printernizer_usage.const import DOMAIN, ISSUE_SUBMISSION_FAILING

from .helpers import Clock, build_entry, setup_entry


async def test_repair_issue_goes_with_the_entry(
    hass: HomeAssistant, clock: Clock, closed_endpoint: str, issue_registry: ir.IssueRegistry
) -> None:
    entry = await setup_entry(hass, build_entry(closed_endpoint, share=True))
    await entry.runtime_data.submitter.submit_now()
    clock.advance(timedelta(days=15))
    await entry.runtime_data.coordinator.async_refresh()
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_SUBMISSION_FAILING) is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_SUBMISSION_FAILING) is None


async def test_a_damaged_database_is_an_error_not_a_retry(
    hass: HomeAssistant, config_dir: Path
) -> None:
    storage = config_dir / ".storage"
    await hass.async_add_executor_job(lambda: storage.mkdir(exist_ok=True))
    await hass.async_add_executor_job(
        (storage / "printernizer_usage.db").write_bytes, b"this is not sqlite" * 100
    )
    entry = build_entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "damaged" in (entry.reason or "")


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("preview", {}),
        ("export", {}),
        ("submit_now", {}),
        ("delete_all", {"delete_remote": False}),
        ("record_event", {"event_type": "job_completed"}),
    ],
)
async def test_actions_after_home_assistant_stopped_say_not_loaded(
    hass: HomeAssistant, action: str, data: dict[str, object]
) -> None:
    await setup_entry(hass, build_entry(share=True))
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    response = action in ("preview", "export", "submit_now")
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, action, data, blocking=True, return_response=response
        )
    assert err.value.translation_key == "not_loaded"


async def test_unloading_during_a_send_gives_a_translated_error(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow_submit(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response({})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/submit", slow_submit)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    await web.SockSite(runner, sock).start()
    try:
        entry = build_entry(url, share=True)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await asyncio.wait_for(arrived.wait(), 5)
        call = hass.async_create_task(
            hass.services.async_call(DOMAIN, "submit_now", {}, blocking=True, return_response=True)
        )
        await asyncio.sleep(0.2)
        assert await hass.config_entries.async_unload(entry.entry_id)
        try:
            await asyncio.wait_for(call, 10)
        except HomeAssistantError as err:  # translated, whichever it is
            assert err.translation_domain == DOMAIN, err
    finally:
        release.set()
        await runner.cleanup()


async def test_delete_all_keeps_the_entrys_server_and_retention(hass: HomeAssistant) -> None:
    entry = await setup_entry(hass, build_entry("https://stats.example.org", retention=7))
    await hass.services.async_call(DOMAIN, "delete_all", {"delete_remote": False}, blocking=True)
    await hass.async_block_till_done()
    settings = await entry.runtime_data.service.get_settings()
    assert settings.retention_days == 7
    assert settings.endpoint == "https://stats.example.org"
    assert settings.installation_id is None and not settings.opted_in
