"""Diagnostics: useful for bug reports, with the installation id and secrets redacted."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant

from custom_components.printernizer_usage.diagnostics import async_get_config_entry_diagnostics

from .helpers import build_entry, settle, setup_entry


async def test_diagnostics_redacted(hass: HomeAssistant) -> None:
    """The identity and the deletion secret (and its hash) never appear in diagnostics."""
    entry = await setup_entry(hass, build_entry("https://usage.example.org", share=True))
    service = entry.runtime_data.service
    service.record_event("job_completed", {"printer_type": "bambu_lab"})
    await settle(hass, entry)
    settings = await service.get_settings()
    secret = await service.deletion_secret()
    assert settings.installation_id is not None
    assert secret

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    assert str(settings.installation_id) not in text
    assert secret not in text
    assert diagnostics["settings"]["installation_id"] == "**REDACTED**"
    assert diagnostics["settings"]["opted_in"] is True
    assert diagnostics["next_payload"]["installation"]["installation_id"] == "**REDACTED**"
    assert diagnostics["next_payload"]["deletion_key_hash"] == "**REDACTED**"
    assert diagnostics["next_payload"]["submission_id"] == "**REDACTED**"
    assert diagnostics["statistics"]["event_counts"] == {"job_completed": 1}
    assert diagnostics["recorder"]["written"] == 1
    assert diagnostics["environment"]["deployment_mode"] == "homeassistant"
    assert diagnostics["submission"]["state"] in ("on", "failing")
    assert diagnostics["entry"]["options"] == {"share": True, "retention_days": 90}
