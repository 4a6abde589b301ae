"""Diagnostics: settings, delivery state and counters, with the identity and secrets redacted."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_SUBMIT_KEY
from .coordinator import PrinternizerUsageConfigEntry
from .core.privacy import COUNTERS

# The installation id links reports to one installation; the secret and its hash allow
# deleting them; the submit key lets anyone send to the server. None of them belongs in a file
# that users attach to public bug reports.
TO_REDACT = {
    "installation_id",
    "candidate_installation_id",
    "deletion_secret",
    "deletion_key_hash",
    "submission_id",
    CONF_SUBMIT_KEY,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PrinternizerUsageConfigEntry
) -> dict[str, Any]:
    """Everything needed to debug the integration, nothing that identifies the installation."""
    runtime = entry.runtime_data
    service = runtime.service
    settings = await service.get_settings()
    status = await runtime.submitter.status()
    stats = runtime.coordinator.data.stats
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "settings": async_redact_data(settings.model_dump(mode="json"), TO_REDACT),
        "submission": status.model_dump(mode="json"),
        "environment": dataclasses.asdict(service.environment),
        "recorder": dataclasses.asdict(service.recorder.counters),
        "privacy_guard": dataclasses.asdict(COUNTERS),
        "statistics": async_redact_data(
            stats.model_dump(mode="json", exclude={"settings", "daily"}), TO_REDACT
        ),
        "next_payload": async_redact_data(json.loads(await service.preview()), TO_REDACT),
    }
