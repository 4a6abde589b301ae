"""Sensor states after events (syrupy snapshots) and updates without waiting for the timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import ATTR_LAST_RESET, ATTR_STATE_CLASS, SensorStateClass
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

from .helpers import settle, setup_entry

JOBS = "sensor.printernizer_usage_statistics_jobs_completed_this_week"


async def _record(hass: HomeAssistant, event_type: str, **metadata: object) -> None:
    await hass.services.async_call(
        DOMAIN,
        "record_event",
        {"event_type": event_type, "metadata": metadata},
        blocking=True,
    )


# A Wednesday: the weekly counters run from Monday 2026-11-30 00:00 UTC.
@pytest.mark.freeze_time("2026-12-02 10:00:00+00:00")
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


WEEKLY = (
    JOBS,
    "sensor.printernizer_usage_statistics_jobs_failed_this_week",
    "sensor.printernizer_usage_statistics_files_downloaded_this_week",
    "sensor.printernizer_usage_statistics_files_uploaded_this_week",
    "sensor.printernizer_usage_statistics_errors_this_week",
    "sensor.printernizer_usage_statistics_uptime_this_week",
)


async def test_weekly_counters_start_again_on_monday(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_config_entry: MockConfigEntry
) -> None:
    """The counters grow through the week and start from 0 on Monday 00:00 UTC, with
    last_reset there: long-term statistics sum them as counts (state class total)."""
    freezer.move_to("2026-12-06 23:00:00+00:00")  # a Sunday
    entry = await setup_entry(hass, mock_config_entry)
    await _record(hass, "job_completed")
    await _record(hass, "job_failed")
    await settle(hass, entry)
    sunday = hass.states.get(JOBS)
    assert sunday.state == "1"
    assert sunday.attributes[ATTR_LAST_RESET] == datetime(2026, 11, 30, tzinfo=UTC).isoformat()
    for entity_id in WEEKLY:
        assert hass.states.get(entity_id).attributes[ATTR_STATE_CLASS] is SensorStateClass.TOTAL

    freezer.move_to("2026-12-07 00:30:00+00:00")  # Monday
    await settle(hass, entry)
    monday = hass.states.get(JOBS)
    assert monday.state == "0"
    assert monday.attributes[ATTR_LAST_RESET] == datetime(2026, 12, 7, tzinfo=UTC).isoformat()
    await _record(hass, "job_completed")
    await settle(hass, entry)
    assert hass.states.get(JOBS).state == "1"
    # The sensors that are not weekly counters keep no last_reset.
    printers = hass.states.get("sensor.printernizer_usage_statistics_printers")
    assert ATTR_LAST_RESET not in printers.attributes
