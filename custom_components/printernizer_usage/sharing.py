"""Sharing helpers: endpoint checks, the payload preview and config entry ↔ engine settings."""

from __future__ import annotations

import json
import logging
import secrets
import textwrap
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.loader import async_get_integration

from .const import (
    CONF_DELETION_SECRET,
    CONF_ENDPOINT,
    CONF_INSTALLATION_ID,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    CONF_SUBMIT_KEY,
    DB_FILE,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    PREVIEW_LINE_WIDTH,
)
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import DeploymentMode
from .core.service import UsageStatsService
from .core.submitter import EndpointError, Submitter, normalise_endpoint
from .fleet import async_count_printers, async_store_fleet

_LOGGER = logging.getLogger(__name__)


def db_path(hass: HomeAssistant) -> str:
    """The SQLite file: in the configuration directory, so backups include it."""
    return hass.config.path(".storage", DB_FILE)


async def async_create_service(hass: HomeAssistant, path: str | None = None) -> UsageStatsService:
    """An engine for this Home Assistant (not started), on its database file unless `path`."""
    integration = await async_get_integration(hass, DOMAIN)
    return UsageStatsService(
        db_path(hass) if path is None else path,
        app_version=str(integration.version),
        deployment_mode=DeploymentMode.HOMEASSISTANT,
        time_zone=hass.config.time_zone,
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """The random installation id and deletion secret a config flow shows before consent."""

    installation_id: str
    deletion_secret: str

    @classmethod
    def new(cls) -> Identity:
        """A fresh random identity (uuid4, never derived from the machine)."""
        return cls(str(uuid.uuid4()), secrets.token_urlsafe(32))

    @classmethod
    def from_entry_data(cls, data: Mapping[str, Any]) -> Identity | None:
        """The identity a config flow handed to the entry's first start, if any."""
        installation_id = data.get(CONF_INSTALLATION_ID)
        secret = data.get(CONF_DELETION_SECRET)
        if not installation_id or not secret:
            return None
        return cls(str(installation_id), str(secret))

    def as_entry_data(self) -> dict[str, str]:
        """The identity as config entry data (consumed and removed by the first start)."""
        return {
            CONF_INSTALLATION_ID: self.installation_id,
            CONF_DELETION_SECRET: self.deletion_secret,
        }

    async def async_adopt(self, service: UsageStatsService) -> None:
        """Make this the engine's identity, replacing any id a earlier preview left behind."""
        await service.store.set_settings(
            {
                "installation_id": self.installation_id,
                "deletion_secret": self.deletion_secret,
                "candidate_installation_id": None,
            }
        )


async def async_flow_preview(hass: HomeAssistant, identity: Identity) -> str:
    """The first report's payload for a config flow, without touching the database file.

    Before the entry exists nothing may be written (an abandoned flow must leave no file and
    no id behind), so the payload is built by an engine on an in-memory database that holds
    what the new installation's file will hold when it sends: this identity and the fleet.
    """
    service = await async_create_service(hass, ":memory:")
    await service.start()
    try:
        await identity.async_adopt(service)
        await async_store_fleet(service, async_count_printers(hass))
        return await service.preview()
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


def format_payload(text: str, width: int = PREVIEW_LINE_WIDTH) -> str:
    """The payload as the user reads it in a flow's dialog: one `key: value` line per field.

    Lines are at most `width` characters, so nothing is cut off in a narrow dialog: a value
    that does not fit after its key goes on the lines below it, wrapped (a hash or an id
    stays one unbroken run of characters per line).
    """
    lines: list[str] = []
    _format_value(json.loads(text), "", 0, width, lines)
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _format_value(value: Any, label: str, indent: int, width: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict) and value:
        if label:
            # A map inside a list is marked by its dash alone.
            lines.append(f"{pad}-" if label == "-" else f"{pad}{label}:")
            indent += 2
        for key, item in value.items():
            _format_value(item, str(key), indent, width, lines)
        return
    if isinstance(value, list) and value and not all(isinstance(v, str | int) for v in value):
        lines.append(f"{pad}{label}:")
        for item in value:
            _format_value(item, "-", indent + 2, width, lines)
        return
    if isinstance(value, list):
        text = ", ".join(_scalar(v) for v in value) if value else "[]"
    elif isinstance(value, dict):
        text = "{}"
    else:
        text = _scalar(value)
    head = f"{pad}{label}: " if label else pad
    if len(head) + len(text) <= width:
        lines.append(head + text)
        return
    lines.append(head.rstrip())
    inner = " " * (indent + 2)
    lines.extend(inner + part for part in _wrap(text, max(width - len(inner), 8)))


def _wrap(text: str, width: int) -> list[str]:
    """Words wrapped at `width`; one long word (an id, a hash) cut into equal pieces."""
    if " " in text:
        return textwrap.wrap(text, width)
    pieces = -(-len(text) // width)
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


async def async_apply_settings(hass: HomeAssistant, entry: PrinternizerUsageConfigEntry) -> None:
    """Make the engine's stored choices match the config entry (the user's last decision).

    Runs at setup and after every change of the entry, on the running engine: option changes
    never reload the entry, so the options dialog is never met by an entry half-way through
    a reload.
    """
    runtime = entry.runtime_data
    async with runtime.settings_lock:
        service = runtime.service
        runtime.submitter.submit_key = entry.data.get(CONF_SUBMIT_KEY) or None
        if (identity := Identity.from_entry_data(entry.data)) is not None:
            # The id the setup flow's preview showed becomes this installation's id; then it is
            # kept only in the database (one place for the deletion secret).
            await identity.async_adopt(service)
            hass.config_entries.async_update_entry(
                entry,
                data={k: v for k, v in entry.data.items() if k not in identity.as_entry_data()},
            )
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
