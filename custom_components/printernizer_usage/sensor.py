"""Sensors: this week's activity, the printer fleet and the state of sharing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PrinternizerUsageConfigEntry, UsageData
from .core.models import SharingState
from .entity import PrinternizerUsageEntity

# The coordinator does all the reading; entities never poll.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PrinternizerUsageSensorDescription(SensorEntityDescription):
    """A sensor and how its state (and optional attributes) come from the snapshot."""

    value_fn: Callable[[UsageData], str | int | datetime | None]
    attributes_fn: Callable[[UsageData], Mapping[str, Any]] | None = None
    # For counters that start again from 0: when the running count began.
    last_reset_fn: Callable[[UsageData], datetime] | None = None


def _week_counter(
    key: str,
    value_fn: Callable[[UsageData], int],
    **kwargs: Any,
) -> PrinternizerUsageSensorDescription:
    """A count since Monday: TOTAL with last_reset at the week's start, so long-term
    statistics keep a running sum (jobs per day, per week) instead of a mean of the counts."""
    return PrinternizerUsageSensorDescription(
        key=key,
        translation_key=key,
        state_class=SensorStateClass.TOTAL,
        value_fn=value_fn,
        last_reset_fn=lambda data: data.week.start,
        **kwargs,
    )


SENSORS: tuple[PrinternizerUsageSensorDescription, ...] = (
    _week_counter("jobs_completed", lambda data: data.week.usage.jobs_completed),
    _week_counter("jobs_failed", lambda data: data.week.usage.jobs_failed),
    _week_counter("files_downloaded", lambda data: data.week.usage.file_count),
    _week_counter("files_uploaded", lambda data: data.week.usage.upload_count),
    _week_counter(
        "errors",
        lambda data: sum(data.week.errors.values()),
        # Error class names only (never messages): the same breakdown the payload carries.
        attributes_fn=lambda data: {"error_types": dict(data.week.errors)},
    ),
    PrinternizerUsageSensorDescription(
        key="events_recorded",
        translation_key="events_recorded",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.stats.total_events,
        attributes_fn=lambda data: {
            "events_rejected": data.stats.events_rejected,
            "events_dropped": data.stats.events_dropped,
        },
    ),
    PrinternizerUsageSensorDescription(
        key="printers",
        translation_key="printers",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda data: data.stats.printer_fleet.printer_count,
        attributes_fn=lambda data: {
            "printer_types": {
                str(ptype): count
                for ptype, count in data.stats.printer_fleet.printer_type_counts.items()
            }
        },
    ),
    _week_counter(
        "uptime",
        lambda data: data.week.usage.uptime_hours,
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.HOURS,
    ),
    PrinternizerUsageSensorDescription(
        key="sharing_status",
        translation_key="sharing_status",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in SharingState],
        value_fn=lambda data: data.status.state.value,
        attributes_fn=lambda data: {
            "pending_periods": data.status.pending_periods,
            "failed_periods": data.status.failed_periods,
            # Trouble shows here after any failed attempt, before the state turns failing.
            "last_attempt": data.status.last_attempt,
            "last_error": data.status.last_error,
        },
    ),
    PrinternizerUsageSensorDescription(
        key="last_submission",
        translation_key="last_submission",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data: data.status.last_success,
    ),
    PrinternizerUsageSensorDescription(
        key="next_submission",
        translation_key="next_submission",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data: data.status.next_attempt,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerUsageConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of the service device."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(PrinternizerUsageSensor(coordinator, description) for description in SENSORS)


class PrinternizerUsageSensor(PrinternizerUsageEntity, SensorEntity):
    """A sensor fed by the coordinator's snapshot."""

    entity_description: PrinternizerUsageSensorDescription

    @property
    def native_value(self) -> str | int | datetime | None:
        """The state from the latest snapshot."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def last_reset(self) -> datetime | None:
        """When a weekly counter started counting (Monday 00:00 UTC); None for the others."""
        if self.entity_description.last_reset_fn is None:
            return None
        return self.entity_description.last_reset_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Attributes from the latest snapshot (counts and type names only)."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)
