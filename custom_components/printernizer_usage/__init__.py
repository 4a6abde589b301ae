"""Printernizer usage statistics: privacy-first, opt-in usage statistics for Home Assistant."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, ISSUE_SUBMISSION_FAILING
from .coordinator import (
    PrinternizerUsageConfigEntry,
    PrinternizerUsageCoordinator,
    PrinternizerUsageData,
)
from .core.store import StoreError
from .core.submitter import Submitter
from .fleet import async_track_fleet, async_update_fleet
from .services import async_setup_services
from .sharing import async_apply_settings, async_create_service, db_path
from .sources import async_setup_sources

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions (they exist even while no entry is loaded)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> bool:
    """Open the local database, start the engine and the sender, wire up the event sources."""
    service = await async_create_service(hass)
    try:
        await service.start()
    except (StoreError, sqlite3.Error, OSError) as err:
        with contextlib.suppress(Exception):
            await service.stop()
        if _damaged(err):
            # Retrying cannot mend a file that is not a database: say what will.
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="database_damaged",
                translation_placeholders={"path": db_path(hass), "error": str(err)},
            ) from err
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="database_error",
            translation_placeholders={"error": str(err)},
        ) from err
    submitter = Submitter(service, session=async_get_clientsession(hass))
    coordinator = PrinternizerUsageCoordinator(hass, entry, service, submitter)
    runtime = PrinternizerUsageData(service=service, submitter=submitter, coordinator=coordinator)
    entry.runtime_data = runtime
    try:
        await async_apply_settings(hass, entry)
        await async_update_fleet(hass, entry)
        await coordinator.async_config_entry_first_refresh()
        await submitter.start()
    except BaseException:
        await runtime.async_shutdown()
        raise

    @callback
    def _engine_changed() -> None:
        # Called after event batches are written and after settings change.
        if not runtime.closed:
            entry.async_create_background_task(
                hass, coordinator.async_request_refresh(), "printernizer_usage refresh"
            )

    entry.async_on_unload(service.add_listener(_engine_changed))
    async_setup_sources(hass, entry)
    async_track_fleet(hass, entry)
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


def _damaged(err: BaseException) -> bool:
    """Whether opening failed because the file is not (or no longer) a SQLite database, not
    because it is busy, locked or out of reach for now."""
    while err is not None:
        if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False


async def _async_update_listener(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> None:
    """Changed options, endpoint or submit key: the running engine takes them over.

    No reload: a reload would leave the entry not loaded for a moment, and the options dialog
    opened in that moment could not show the current choices.
    """
    runtime = entry.runtime_data
    if runtime.closed:
        return
    await async_apply_settings(hass, entry)
    await runtime.coordinator.async_request_refresh()


async def async_unload_entry(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> bool:
    """Unload the sensors, then stop sending and close the database."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_shutdown()
        # The repair points at this entry's options: it goes with it (and comes back at the
        # next refresh if sending still fails once the entry is loaded again).
        ir.async_delete_issue(hass, DOMAIN, ISSUE_SUBMISSION_FAILING)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> None:
    """Removing the integration removes the local database with it."""
    path = Path(db_path(hass))

    def _remove() -> None:
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)

    await hass.async_add_executor_job(_remove)
