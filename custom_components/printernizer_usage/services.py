"""Actions: record an event, submit now, preview, export and delete everything."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from typing import Any

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import CONF_DELETE_REMOTE, CONF_SHARE, DOMAIN
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import SharingState
from .core.privacy import EVENT_TYPES, Rejected
from .core.service import PENDING_DELETIONS_KEY
from .core.store import StoreError
from .sharing import async_apply_settings

_LOGGER = logging.getLogger(__name__)

ATTR_EVENT_TYPE = "event_type"
ATTR_METADATA = "metadata"

SERVICE_RECORD_EVENT = "record_event"
SERVICE_SUBMIT_NOW = "submit_now"
SERVICE_PREVIEW = "preview"
SERVICE_EXPORT = "export"
SERVICE_DELETE_ALL = "delete_all"

RECORD_EVENT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_EVENT_TYPE): cv.string,
        vol.Optional(ATTR_METADATA, default=dict): vol.Schema({cv.string: object}),
    }
)
DELETE_ALL_SCHEMA = vol.Schema({vol.Optional(CONF_DELETE_REMOTE, default=True): cv.boolean})
# The wire schema allows at most 16 metadata keys per event.
MAX_METADATA_KEYS = 16


def _loaded_entry(hass: HomeAssistant) -> PrinternizerUsageConfigEntry:
    """The one loaded config entry whose engine runs, or a translated error (after Home
    Assistant's stop event the entry still counts as loaded, but its database is closed)."""
    entry = _running_entry(hass)
    if entry is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_loaded")
    return entry


def _running_entry(hass: HomeAssistant) -> PrinternizerUsageConfigEntry | None:
    entries: list[PrinternizerUsageConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    return entries[0] if entries and not entries[0].runtime_data.closed else None


def _translated_store_errors[R](
    handler: Callable[[ServiceCall], Coroutine[Any, Any, R]],
) -> Callable[[ServiceCall], Coroutine[Any, Any, R]]:
    """An action whose database closes under it (a reload or Home Assistant stopping while it
    runs) fails with a translated error, not a raw one."""

    @functools.wraps(handler)
    async def wrapper(call: ServiceCall) -> R:
        try:
            return await handler(call)
        except (StoreError, sqlite3.Error, ValueError) as err:
            # aiosqlite says "Connection closed" with a ValueError; any other ValueError while
            # the engine still runs is a bug to see as it is.
            if isinstance(err, ValueError) and _running_entry(call.hass) is not None:
                raise
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="store_unavailable",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err

    return wrapper


def _check_event(event_type: str, metadata: dict[str, Any]) -> None:
    """Refuse what the privacy guard would silently drop, saying which key is wrong."""
    spec = EVENT_TYPES.get(event_type)
    if spec is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_event_type",
            translation_placeholders={
                "event_type": event_type[:48],
                "allowed": ", ".join(sorted(EVENT_TYPES)),
            },
        )
    if len(metadata) > MAX_METADATA_KEYS:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="too_much_metadata")
    for key, value in metadata.items():
        rule = spec.fields.get(key)
        if rule is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="metadata_key_not_allowed",
                translation_placeholders={
                    "key": key[:48],
                    "event_type": event_type,
                    "allowed": ", ".join(sorted(spec.fields)) or "-",
                },
            )
        try:
            rule.check(value)
        except Rejected as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="metadata_value_not_allowed",
                translation_placeholders={"key": key, "reason": str(err)},
            ) from err


@_translated_store_errors
async def _async_record_event(call: ServiceCall) -> None:
    """Record one event after checking it against the allow-list."""
    entry = _loaded_entry(call.hass)
    event_type: str = call.data[ATTR_EVENT_TYPE]
    metadata: dict[str, Any] = call.data[ATTR_METADATA]
    _check_event(event_type, metadata)
    if not entry.runtime_data.service.record_event(event_type, metadata):
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="event_not_recorded")


async def _async_require_sharing(entry: PrinternizerUsageConfigEntry) -> None:
    settings = await entry.runtime_data.service.get_settings()
    if settings.blocked_by_environment:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="sharing_blocked")
    if not settings.opted_in:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_sharing")


@_translated_store_errors
async def _async_submit_now(call: ServiceCall) -> ServiceResponse:
    """Send what is due now; fails with the reason when the server did not take it."""
    entry = _loaded_entry(call.hass)
    await _async_require_sharing(entry)
    runtime = entry.runtime_data
    status = await runtime.submitter.submit_now()
    await runtime.coordinator.async_refresh()
    failed = status.last_error is not None and (
        status.last_success is None
        or (status.last_attempt is not None and status.last_attempt > status.last_success)
    )
    if status.state is SharingState.FAILING or failed:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="submission_failed",
            translation_placeholders={"error": status.last_error or "unknown"},
        )
    return status.model_dump(mode="json")


@_translated_store_errors
async def _async_preview(call: ServiceCall) -> ServiceResponse:
    """The exact payload the next submission sends (also while sharing is off)."""
    entry = _loaded_entry(call.hass)
    service = entry.runtime_data.service
    text = await service.preview()
    settings = await service.get_settings()
    return {"sharing": settings.sharing, "payload": json.loads(text)}


def _without_secrets(export: dict[str, Any]) -> dict[str, Any]:
    """The export minus the deletion secret: it is a credential, and responses get logged."""
    tables = export.get("tables", {})
    tables["usage_settings"] = [
        row
        for row in tables.get("usage_settings", [])
        # The secret itself, and the copies a deletion request waiting for the server keeps.
        if row.get("key") not in ("deletion_secret", PENDING_DELETIONS_KEY)
    ]
    return export


@_translated_store_errors
async def _async_export(call: ServiceCall) -> ServiceResponse:
    """Everything stored locally, as the action's response."""
    entry = _loaded_entry(call.hass)
    export = _without_secrets(await entry.runtime_data.service.export())
    export["next_payload"] = json.loads(export["next_payload"])
    return export


@_translated_store_errors
async def _async_delete_all(call: ServiceCall) -> None:
    """Stop sharing, optionally have the server delete this installation, forget everything."""
    hass = call.hass
    entry = _loaded_entry(hass)
    runtime = entry.runtime_data
    delete_remote: bool = call.data[CONF_DELETE_REMOTE]
    await runtime.submitter.opt_out(delete_remote=delete_remote)
    # A deletion the server has not confirmed yet is kept apart by the engine and retried in
    # the background until it is; everything else local goes now.
    await runtime.service.delete_all()
    pending = delete_remote and bool(await runtime.service.pending_deletions())
    last_error = (await runtime.submitter.status()).last_error if pending else None
    # Sharing is off now either way; the entry's options say so too. The engine's settings
    # (server, retention) come from the entry again: they were forgotten with the rest.
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SHARE: False})
    await async_apply_settings(hass, entry)
    await runtime.coordinator.async_refresh()
    if pending:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="delete_remote_failed",
            translation_placeholders={"error": last_error or "unknown"},
        )


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_RECORD_EVENT, _async_record_event, schema=RECORD_EVENT_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SUBMIT_NOW,
        _async_submit_now,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_PREVIEW,
        _async_preview,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT,
        _async_export,
        schema=vol.Schema({}),
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_DELETE_ALL, _async_delete_all, schema=DELETE_ALL_SCHEMA
    )
