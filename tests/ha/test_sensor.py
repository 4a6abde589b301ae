"""Sensor states after events (syrupy snapshots) and updates without waiting for the timer."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.printernizer_usage.const import DOMAIN, EVENT_USAGE

from .helpers import settle

JOBS = "sensor.printernizer_usage_statistics_jobs_completed_this_week"


async def _record(hass: HomeAssistant, event_type: str, **metadata: object) -> None:
    await hass.services.async_call(
        DOMAIN,
        "record_event",
        {"event_type": event_type, "metadata": metadata},
        blocking=True,
    )


async def test_sensors_after_events(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every sensor's registry entry and state after a realistic mix of events."""
    for _ in range(3):
        await _record(hass, "job_completed", printer_type="bambu_lab", duration_seconds=5400)
    await _record(hass, "job_failed", printer_type="prusa_core", error_type="NozzleClogError")
    await _record(hass, "file_downloaded", printer_type="octoprint", file_type="gcode")
    await _record(hass, "file_downloaded", file_type="3mf")
    await _record(hass, "file_uploaded", file_type="stl", file_size_bytes=2_000_000)
    await _record(hass, "error_occurred", error_type="ConnectionError", component="printer")
    await _record(hass, "error_occurred", error_type="ConnectionError", component="printer")
    await _record(hass, "error_occurred", error_type="TimeoutError", component="api")
    hass.bus.async_fire(EVENT_USAGE, {"event_type": "printer_connected"})
    await hass.async_block_till_done()
    await settle(hass, init_integration)

    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_sensors_follow_events_without_timer(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Written events refresh the entities at once; a burst is debounced, not lost."""
    service = init_integration.runtime_data.service
    assert hass.states.get(JOBS).state == "0"

    await _record(hass, "job_completed")
    await service.flush()
    await hass.async_block_till_done()
    assert hass.states.get(JOBS).state == "1"

    # Within the debounce cooldown the refresh waits for the cooldown to pass.
    await _record(hass, "job_completed")
    await service.flush()
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await hass.async_block_till_done()
    assert hass.states.get(JOBS).state == "2"


async def test_sensors_unavailable_when_reading_fails(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A database that cannot be read makes the entities unavailable (translated error)."""
    coordinator = init_integration.runtime_data.coordinator
    await init_integration.runtime_data.service.store.close()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert not coordinator.last_update_success
    assert coordinator.last_exception is not None
    assert coordinator.last_exception.translation_key == "update_failed"
    assert hass.states.get(JOBS).state == "unavailable"
