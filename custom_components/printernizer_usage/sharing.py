"""Sharing helpers: endpoint checks, the payload preview and config entry ↔ engine settings."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.loader import async_get_integration

from .const import (
    CONF_ENDPOINT,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    DB_FILE,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
)
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import DeploymentMode
from .core.service import UsageStatsService
from .core.submitter import EndpointError, Submitter, normalise_endpoint

_LOGGER = logging.getLogger(__name__)


def db_path(hass: HomeAssistant) -> str:
    """The SQLite file: in the configuration directory, so backups include it."""
    return hass.config.path(".storage", DB_FILE)


async def async_create_service(hass: HomeAssistant) -> UsageStatsService:
    """An engine for this Home Assistant (not started)."""
    integration = await async_get_integration(hass, DOMAIN)
    return UsageStatsService(
        db_path(hass),
        app_version=str(integration.version),
        deployment_mode=DeploymentMode.HOMEASSISTANT,
        time_zone=hass.config.time_zone,
    )


@asynccontextmanager
async def async_temporary_service(hass: HomeAssistant) -> AsyncIterator[UsageStatsService]:
    """A started engine for a config flow that runs before the entry exists."""
    service = await async_create_service(hass)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def clean_endpoint(url: str) -> str:
    """The endpoint as stored: trimmed, without a trailing slash."""
    return url.strip().rstrip("/")


async def async_validate_endpoint(
    hass: HomeAssistant, url: str, *, probe: bool, service: UsageStatsService | None = None
) -> str | None:
    """Check an endpoint; with `probe` also ask the server. Returns an error key or None.

    Without `probe` (sharing off) only the shape is checked: then nothing, not even a probe,
    may reach the server. Probing needs no database: before the entry exists an engine that
    was never started stands in for the running one.
    """
    try:
        normalise_endpoint(url)
    except EndpointError as err:
        return err.reason
    if not probe:
        return None
    if service is None:
        service = await async_create_service(hass)
    submitter = Submitter(service, session=async_get_clientsession(hass))
    try:
        await submitter.check_endpoint(url)
    except EndpointError as err:
        _LOGGER.debug("endpoint check failed: %s", err)
        return err.reason
    return None


def format_payload(text: str) -> str:
    """The payload as the user reads it in a flow: the same JSON, indented."""
    return json.dumps(json.loads(text), indent=2, ensure_ascii=False)


async def async_apply_settings(entry: PrinternizerUsageConfigEntry) -> None:
    """Make the engine's stored choices match the config entry (the user's last decision)."""
    runtime = entry.runtime_data
    service = runtime.service
    settings = await service.get_settings()
    endpoint: str | None = entry.data.get(CONF_ENDPOINT)
    if settings.endpoint != endpoint:
        await service.set_endpoint(endpoint)
    retention = int(entry.options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS))
    if settings.retention_days != retention:
        await service.set_retention_days(retention)
    share = bool(entry.options.get(CONF_SHARE, False))
    if share and not settings.opted_in:
        await service.opt_in(endpoint=endpoint)
    elif not share and settings.opted_in:
        await runtime.submitter.opt_out(delete_remote=False)
