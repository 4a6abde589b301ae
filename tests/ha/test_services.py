"""The actions: record_event, submit_now, preview, export, delete_all; responses and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer_usage.const import CONF_SHARE, DOMAIN
from custom_components.printernizer_usage.diagnostics import (
    async_get_config_entry_diagnostics,
)

from .helpers import build_entry, server_rows, settle, setup_entry


async def _call(hass: HomeAssistant, service: str, data: dict[str, Any] | None = None) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data or {}, blocking=True, return_response=True
    )


async def test_record_event(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """A valid event is stored, with its metadata reduced by the privacy guard."""
    await hass.services.async_call(
        DOMAIN,
        "record_event",
        {"event_type": "job_completed", "metadata": {"duration_seconds": 4000}},
        blocking=True,
    )
    await settle(hass, init_integration)
    export = await _call(hass, "export")
    events = export["tables"]["usage_events"]
    assert [e["event_type"] for e in events] == ["job_completed"]
    # The exact duration never reaches the disk, only its bucket.
    assert json.loads(events[0]["metadata"]) == {"duration": "1-3h"}


@pytest.mark.parametrize(
    ("data", "translation_key"),
    [
        ({"event_type": "print_started"}, "unknown_event_type"),
        (
            {"event_type": "job_completed", "metadata": {"file_name": "benchy.3mf"}},
            "metadata_key_not_allowed",
        ),
        (
            {"event_type": "job_failed", "metadata": {"error_type": "nozzle clogged at 10:31"}},
            "metadata_value_not_allowed",
        ),
        (
            {"event_type": "app_start", "metadata": {f"k{i}": i for i in range(17)}},
            "too_much_metadata",
        ),
    ],
)
async def test_record_event_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    data: dict[str, Any],
    translation_key: str,
) -> None:
    """Anything the guard would drop is refused with a translated error naming the problem."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "record_event", data, blocking=True)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == translation_key
    await settle(hass, init_integration)
    assert (await _call(hass, "export"))["tables"]["usage_events"] == []


async def test_record_event_queue_full(
    hass: HomeAssistant, init_integration: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the engine cannot take the event (queue full) the caller is told."""
    monkeypatch.setattr(init_integration.runtime_data.service.recorder, "_max_queue", 0)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "record_event", {"event_type": "app_start"}, blocking=True
        )
    assert err.value.translation_key == "event_not_recorded"


async def test_services_need_a_loaded_entry(hass: HomeAssistant) -> None:
    """Actions exist once the integration is set up, but need a loaded entry to act."""
    entry = await setup_entry(hass, build_entry())
    assert await hass.config_entries.async_unload(entry.entry_id)
    for service, data in (("record_event", {"event_type": "app_start"}), ("preview", None)):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, service, data or {}, blocking=True, return_response=service == "preview"
            )
        assert err.value.translation_key == "not_loaded"


async def test_preview(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The preview response is the exact next payload, also while sharing is off."""
    response = await _call(hass, "preview")
    assert response["sharing"] is False
    assert response["payload"] == json.loads(await init_integration.runtime_data.service.preview())
    assert response["payload"]["installation"]["deployment_mode"] == "homeassistant"


async def test_export_leaves_out_the_deletion_secret(hass: HomeAssistant) -> None:
    """Export returns everything local, except the secret that authorises deletion."""
    entry = await setup_entry(hass, build_entry("https://usage.example.org", share=True))
    service = entry.runtime_data.service
    secret = await service.deletion_secret()
    assert secret
    export = await _call(hass, "export")
    assert export["settings"]["opted_in"] is True
    assert isinstance(export["next_payload"], dict)
    assert secret not in json.dumps(export)
    keys = {row["key"] for row in export["tables"]["usage_settings"]}
    assert "installation_id" in keys
    assert "deletion_secret" not in keys


async def test_submit_now_when_not_sharing(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Nothing is sent without consent."""
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "submit_now")
    assert err.value.translation_key == "not_sharing"


async def test_submit_now_blocked_by_environment(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DO_NOT_TRACK vetoes sending even after consent; the sensor says so."""
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    await setup_entry(hass, build_entry("https://usage.example.org", share=True))
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "submit_now")
    assert err.value.translation_key == "sharing_blocked"
    state = hass.states.get("sensor.printernizer_usage_statistics_sharing_status")
    assert state.state == "blocked"


async def test_submit_now_unreachable(hass: HomeAssistant, closed_endpoint: str) -> None:
    """A failed delivery is reported with the reason."""
    await setup_entry(hass, build_entry(closed_endpoint, share=True))
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, "submit_now")
    assert err.value.translation_key == "submission_failed"
    assert "cannot connect" in err.value.translation_placeholders["error"]


async def test_submit_now_response(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """The response describes the delivery state; the action works without a response too."""
    url, db_file = aggregation_server
    await setup_entry(hass, build_entry(url, share=True))
    response = await _call(hass, "submit_now")
    assert response["state"] == "on"
    assert response["pending_periods"] == 0
    await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
    assert len(server_rows(db_file)) == 1


async def test_delete_all_local(hass: HomeAssistant) -> None:
    """delete_all without the server forgets everything locally and switches sharing off."""
    entry = await setup_entry(hass, build_entry("https://usage.example.org", share=True))
    await hass.services.async_call(
        DOMAIN, "record_event", {"event_type": "job_completed"}, blocking=True
    )
    await settle(hass, entry)
    await hass.services.async_call(DOMAIN, "delete_all", {"delete_remote": False}, blocking=True)
    await hass.async_block_till_done()
    assert entry.options[CONF_SHARE] is False
    settings = await entry.runtime_data.service.get_settings()
    assert not settings.opted_in
    assert settings.installation_id is None
    assert (await _call(hass, "export"))["tables"]["usage_events"] == []


async def test_delete_all_when_not_sharing(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """With nothing ever shared there is nobody to ask; the entities refresh in place."""
    await hass.services.async_call(
        DOMAIN, "record_event", {"event_type": "job_completed"}, blocking=True
    )
    await settle(hass, init_integration)
    await hass.services.async_call(DOMAIN, "delete_all", blocking=True)
    await hass.async_block_till_done()
    state = hass.states.get("sensor.printernizer_usage_statistics_events_recorded")
    assert state.state == "0"


async def test_delete_all_with_server(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """delete_all first has the server delete what was sent, then forgets everything."""
    url, db_file = aggregation_server
    entry = await setup_entry(hass, build_entry(url, share=True))
    await _call(hass, "submit_now")
    assert len(server_rows(db_file)) == 1
    await hass.services.async_call(DOMAIN, "delete_all", {"delete_remote": True}, blocking=True)
    await hass.async_block_till_done()
    assert server_rows(db_file) == []
    assert entry.options[CONF_SHARE] is False
    assert (await entry.runtime_data.service.get_settings()).installation_id is None


async def test_delete_all_server_unreachable(hass: HomeAssistant, closed_endpoint: str) -> None:
    """If the server cannot confirm the deletion, local data goes anyway and only the request
    is kept (and retried); nothing shown to the user names the installation id."""
    entry = await setup_entry(hass, build_entry(closed_endpoint, share=True, retention=7))
    runtime = entry.runtime_data
    installation_id = str((await runtime.service.get_settings()).installation_id)
    runtime.service.record_event("app_start")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "delete_all", {"delete_remote": True}, blocking=True)
    assert err.value.translation_key == "delete_remote_failed"
    await hass.async_block_till_done()
    # Sharing is off (and stays off after the reload); the deletion is retried later.
    assert entry.options[CONF_SHARE] is False
    settings = await runtime.service.get_settings()
    assert not settings.opted_in
    assert settings.installation_id is None
    assert [r["installation_id"] for r in await runtime.service.pending_deletions()] == [
        installation_id
    ]
    assert (await runtime.service.store.dump())["usage_events"] == []
    # The engine still follows the entry: its server and retention came back.
    assert settings.endpoint == closed_endpoint and settings.retention_days == 7
    state = hass.states.get("sensor.printernizer_usage_statistics_sharing_status")
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    for shown in (
        str(err.value.translation_placeholders),
        str(state.attributes.get("last_error")),
        json.dumps(diagnostics, default=str),
    ):
        assert installation_id not in shown
    assert "deletion pending" in str(state.attributes.get("last_error"))
