"""The printer fleet from the device registry: counts per family, updated on changes."""

from __future__ import annotations

import json

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer_usage.const import DOMAIN
from custom_components.printernizer_usage.core.models import MAX_PRINTERS

from .helpers import build_entry, settle, setup_entry

PRINTERS = "sensor.printernizer_usage_statistics_printers"


def _printer(
    hass: HomeAssistant,
    domain: str,
    serial: str,
    name: str,
    **kwargs: object,
) -> dr.DeviceEntry:
    entry = MockConfigEntry(domain=domain, title=name)
    entry.add_to_hass(hass)
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(domain, serial)},
        name=name,
        serial_number=serial,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_fleet_from_device_registry(hass: HomeAssistant) -> None:
    """Printers of known integrations are counted per family; names and serials stay out."""
    x1c = _printer(hass, "bambu_lab", "01P00A123456789", "Alice's X1C")
    _printer(hass, "bambu_lab", "01P00A987654321", "Workshop P1S")
    _printer(hass, "prusalink", "CZPX1234X004XK12345", "MK4 garage")
    _printer(hass, "octoprint", "octo-1", "Ender 3")
    _printer(hass, "moonraker", "voron-1", "Voron 2.4")
    # Not printers: an AMS hanging off a printer, a disabled printer, another integration.
    registry = dr.async_get(hass)
    ams = registry.async_get_or_create(
        config_entry_id=hass.config_entries.async_entries("bambu_lab")[0].entry_id,
        identifiers={("bambu_lab", "ams-1")},
        name="AMS 1",
    )
    # (`via_device_id`: `via_device=` is deprecated on newer Home Assistant, and creating with
    # `via_device_id` is not there on 2025.4.)
    registry.async_update_device(ams.id, via_device_id=x1c.id)
    disabled = _printer(hass, "octoprint", "octo-2", "Old Ender")
    registry.async_update_device(disabled.id, disabled_by=dr.DeviceEntryDisabler.USER)
    _printer(hass, "hue", "bridge-1", "Hue bridge")

    entry = await setup_entry(hass, build_entry())
    await settle(hass, entry)
    state = hass.states.get(PRINTERS)
    assert state.state == "5"
    assert state.attributes["printer_types"] == {
        "bambu_lab": 2,
        "klipper": 1,
        "octoprint": 1,
        "prusa_core": 1,
    }
    preview = await hass.services.async_call(DOMAIN, "preview", blocking=True, return_response=True)
    assert preview["payload"]["printer_fleet"]["printer_count"] == 5
    export = json.dumps(
        await hass.services.async_call(DOMAIN, "export", blocking=True, return_response=True)
    )
    for secret in ("Alice", "X1C", "01P00A123456789", "CZPX1234X004XK12345", "garage"):
        assert secret not in export


async def test_fleet_follows_registry_changes(hass: HomeAssistant) -> None:
    """Adding and removing printers updates the snapshot and the sensor."""
    entry = await setup_entry(hass, build_entry())
    assert hass.states.get(PRINTERS).state == "0"

    device = _printer(hass, "prusalink", "CZPX0001", "Core One")
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass, entry)
    assert hass.states.get(PRINTERS).state == "1"
    assert hass.states.get(PRINTERS).attributes["printer_types"] == {"prusa_core": 1}

    # A change that does not alter the counts writes nothing new.
    dr.async_get(hass).async_update_device(device.id, name_by_user="Front printer")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(PRINTERS).state == "1"

    dr.async_get(hass).async_remove_device(device.id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await settle(hass, entry)
    assert hass.states.get(PRINTERS).state == "0"


async def test_printer_shared_by_two_integrations(hass: HomeAssistant) -> None:
    """A printer that two printer integrations report (same MAC) counts once per device.

    Home Assistant 2025.4 merges them into one device with two config entries (counted once);
    newer releases keep one device per config entry, and each counts.
    """
    registry = dr.async_get(hass)
    devices = set()
    for domain in ("prusalink", "octoprint"):
        config_entry = MockConfigEntry(domain=domain, title="MK4")
        config_entry.add_to_hass(hass)
        device = registry.async_get_or_create(
            config_entry_id=config_entry.entry_id,
            connections={(dr.CONNECTION_NETWORK_MAC, "aa:bb:cc:dd:ee:ff")},
            name="MK4",
        )
        devices.add(device.id)
    entry = await setup_entry(hass, build_entry())
    await settle(hass, entry)
    state = hass.states.get(PRINTERS)
    assert state.state == str(len(devices))
    assert sum(state.attributes["printer_types"].values()) == len(devices)


async def test_fleet_larger_than_a_report_does_not_stop_setup(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """More printers than a report may carry (MAX_PRINTERS): the entry still loads, the snapshot
    is left as it was, and the log says why without naming a printer."""
    bambu = MockConfigEntry(domain="bambu_lab", title="farm")
    bambu.add_to_hass(hass)
    registry = dr.async_get(hass)
    for number in range(MAX_PRINTERS + 1):
        registry.async_get_or_create(
            config_entry_id=bambu.entry_id, identifiers={("bambu_lab", f"farm-{number}")}
        )
    entry = await setup_entry(hass, build_entry())
    assert entry.state is ConfigEntryState.LOADED
    await settle(hass, entry)
    assert hass.states.get(PRINTERS).state == "0"
    assert "printer fleet not stored" in caplog.text
    assert "farm-" not in caplog.text
