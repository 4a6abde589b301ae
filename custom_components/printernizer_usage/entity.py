"""Base entity: every entity belongs to the one service device of the config entry."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import PrinternizerUsageCoordinator


class PrinternizerUsageEntity(CoordinatorEntity[PrinternizerUsageCoordinator]):
    """An entity of the usage statistics service device."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: PrinternizerUsageCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the service device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry_id = coordinator.config_entry.entry_id
        self._attr_unique_id = f"{entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry_id)},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer="Printernizer",
            model="Usage statistics",
            name="Printernizer usage statistics",
            sw_version=coordinator.service.environment.app_version,
        )
