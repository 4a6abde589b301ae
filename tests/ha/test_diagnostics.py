"""Diagnostics: useful for bug reports, with the installation id and secrets redacted."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer_usage.const import CONF_SUBMIT_KEY
from custom_components.printernizer_usage.diagnostics import async_get_config_entry_diagnostics

from .helpers import build_entry, settle, setup_entry

SUBMIT_KEY = "submit-key-for-diagnostics-123"


async def test_diagnostics_redacted(hass: HomeAssistant) -> None:
    """The identity and the deletion secret (and its hash) never appear in diagnostics."""
    template = build_entry("https://usage.example.org", share=True)
    entry = await setup_entry(
        hass,
        MockConfigEntry(
            domain=template.domain,
            title=template.title,
            data={**template.data, CONF_SUBMIT_KEY: SUBMIT_KEY},
            options=dict(template.options),
        ),
    )
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
    assert SUBMIT_KEY not in text
    assert diagnostics["entry"]["data"] == {
        "endpoint": "https://usage.example.org",
        CONF_SUBMIT_KEY: "**REDACTED**",
    }
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
