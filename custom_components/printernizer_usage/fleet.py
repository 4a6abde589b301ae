"""The printer fleet from the device registry: counts per printer family, never names."""

from __future__ import annotations

import logging
from collections import Counter

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import PRINTER_INTEGRATIONS
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import PrinterType
from .core.service import UsageStatsService

_LOGGER = logging.getLogger(__name__)


@callback
def async_count_printers(hass: HomeAssistant) -> dict[PrinterType, int]:
    """Count enabled printer devices of known printer integrations, per printer family.

    Only top-level devices count: child devices (an AMS unit hanging off a Bambu Lab printer,
    say) are parts of a printer, not printers. Nothing but the family and a count is read.
    Devices are looked up per printer config entry (the registry's index), which neither reads
    a device's config entries (one entry per device since Home Assistant 2026) nor walks the
    registry as a mapping (deprecated), so it reads the same on every supported release.
    """
    registry = dr.async_get(hass)
    counts: Counter[PrinterType] = Counter()
    counted: set[str] = set()
    for domain, printer_type in PRINTER_INTEGRATIONS.items():
        for config_entry in hass.config_entries.async_entries(domain):
            for device in dr.async_entries_for_config_entry(registry, config_entry.entry_id):
                if device.id in counted or not _is_printer(device):
                    continue
                counted.add(device.id)
                counts[printer_type] += 1
    return dict(counts)


def _is_printer(device: dr.DeviceEntry) -> bool:
    """An enabled, top-level, non-service device."""
    return (
        device.disabled_by is None
        and device.via_device_id is None
        and device.entry_type is not dr.DeviceEntryType.SERVICE
    )


async def async_update_fleet(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> None:
    """Store the current fleet snapshot when it differs from the stored one."""
    runtime = entry.runtime_data
    if runtime.closed:
        return
    fleet = async_count_printers(hass)
    stored = {ptype: n for ptype, n in (await runtime.service.get_printer_fleet()).items() if n}
    if fleet != stored:
        _LOGGER.debug("printer fleet changed: %s", fleet)
        await async_store_fleet(runtime.service, fleet)


async def async_store_fleet(service: UsageStatsService, fleet: dict[PrinterType, int]) -> None:
    """Store a fleet snapshot; one larger than a report can carry keeps the previous one."""
    try:
        await service.set_printer_fleet(fleet)
    except ValueError as err:
        # More printers than the wire schema allows: statistics must not stop the setup.
        _LOGGER.warning("printer fleet not stored: %s", err)


@callback
def async_track_fleet(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> None:
    """Keep the fleet snapshot current while the entry is loaded."""

    async def _update_quietly() -> None:
        try:
            await async_update_fleet(hass, entry)
        except Exception as err:
            _LOGGER.warning("could not store the printer fleet: %s", type(err).__name__)

    @callback
    def _registry_updated(event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        entry.async_create_background_task(
            hass, _update_quietly(), "printernizer_usage fleet update"
        )

    entry.async_on_unload(
        hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, _registry_updated)
    )
