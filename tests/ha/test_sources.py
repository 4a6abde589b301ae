"""Event sources: the bus event and Home Assistant's start and stop."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CoreState, HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer_usage.const import DB_FILE, EVENT_USAGE
from custom_components.printernizer_usage.core.service import UsageStatsService

from .helpers import build_entry, settle, setup_entry


async def _event_counts(path: Path) -> dict[str, int]:
    service = UsageStatsService(path, app_version="0.1.0")
    await service.start()
    try:
        return (await service.local_stats()).event_counts
    finally:
        await service.stop()


async def test_bus_event(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Printernizer or automations fire printernizer_usage_event; the guard still applies."""
    hass.bus.async_fire(
        EVENT_USAGE,
        {"event_type": "job_completed", "metadata": {"printer_type": "bambu_lab"}},
    )
    hass.bus.async_fire(EVENT_USAGE, {"event_type": "file_uploaded"})
    # Refused quietly (an automation must not fail on statistics): unknown type, no type.
    hass.bus.async_fire(EVENT_USAGE, {"event_type": "user_logged_in", "metadata": {"user": "x"}})
    hass.bus.async_fire(EVENT_USAGE, {})
    await hass.async_block_till_done()
    await settle(hass, init_integration)
    stats = init_integration.runtime_data.coordinator.data.stats
    assert stats.event_counts == {"job_completed": 1, "file_uploaded": 1}
    assert stats.events_rejected == 2
    state = hass.states.get("sensor.printernizer_usage_statistics_files_uploaded_this_week")
    assert state.state == "1"


async def test_start_and_stop(hass: HomeAssistant, config_dir: Path) -> None:
    """Home Assistant starting and stopping become app_start and app_shutdown."""
    hass.set_state(CoreState.starting)
    entry = await setup_entry(hass, build_entry())
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    await settle(hass, entry)
    assert entry.runtime_data.coordinator.data.stats.event_counts == {"app_start": 1}

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    assert runtime.closed
    # A second stop event (or the unload after it) does nothing more.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    counts = await _event_counts(config_dir / ".storage" / DB_FILE)
    assert counts == {"app_start": 1, "app_shutdown": 1}


async def test_reload_is_not_an_app_start(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Loading while Home Assistant already runs (adding or reloading) records nothing."""
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await settle(hass, init_integration)
    assert init_integration.runtime_data.coordinator.data.stats.event_counts == {}
