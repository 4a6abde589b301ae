"""Event sources inside Home Assistant: the bus event and Home Assistant's start and stop."""

from __future__ import annotations

import logging
import time
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CoreState, Event, HomeAssistant, callback
from homeassistant.helpers.start import async_at_started

from .const import EVENT_USAGE
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import DeploymentMode

_LOGGER = logging.getLogger(__name__)


@callback
def async_setup_sources(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> None:
    """Listen for usage events on the bus and for Home Assistant starting and stopping."""
    runtime = entry.runtime_data
    service = runtime.service
    loaded_at = time.monotonic()

    @callback
    def _bus_event(event: Event[dict[str, Any]]) -> None:
        # Automations fire whatever they like: the guard decides; a refusal is not an error.
        if not service.record_event(event.data.get("event_type"), event.data.get("metadata")):
            _LOGGER.debug("a %s was not recorded (refused or queue full)", EVENT_USAGE)

    entry.async_on_unload(hass.bus.async_listen(EVENT_USAGE, _bus_event))

    if hass.state is not CoreState.running:
        # Loaded while Home Assistant starts: that start is an app start. A reload is not.
        @callback
        def _started(_hass: HomeAssistant) -> None:
            service.record_event(
                "app_start",
                {
                    "app_version": service.environment.app_version,
                    "deployment_mode": DeploymentMode.HOMEASSISTANT.value,
                },
            )

        entry.async_on_unload(async_at_started(hass, _started))

    async def _stopping(_event: Event) -> None:
        if runtime.closed:
            return
        service.record_event("app_shutdown", {"uptime_seconds": time.monotonic() - loaded_at})
        # Home Assistant does not unload config entries when it stops: write and close now.
        await runtime.async_shutdown()

    # A plain listener (not listen_once): unloading after the stop must find it to remove it.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _stopping))
