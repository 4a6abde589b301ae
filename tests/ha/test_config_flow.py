"""Every path of the config, reconfigure and options flows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer_usage.const import (
    CONF_DELETE_REMOTE,
    CONF_DELETION_SECRET,
    CONF_ENDPOINT,
    CONF_INSTALLATION_ID,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    DB_FILE,
    DOMAIN,
    PREVIEW_LINE_WIDTH,
)
from custom_components.printernizer_usage.core.submitter import DEFAULT_ENDPOINT
from custom_components.printernizer_usage.sharing import format_payload

from .helpers import build_entry, server_rows, setup_entry


def shown_installation_id(preview: str) -> str:
    """The installation id in a preview dialog's text."""
    match = re.search(r"installation_id:\s+([0-9a-f-]{36})", preview)
    assert match is not None, preview
    return match.group(1)


def db_files(config_dir: Path) -> list[Path]:
    """The integration's database and its WAL/SHM companions that exist."""
    storage = config_dir / ".storage"
    return list(storage.glob(DB_FILE + "*")) if storage.exists() else []


async def _to_sharing_step(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["description_placeholders"]["consent_version"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sharing"
    return str(result["flow_id"])


async def _to_preview_step(hass: HomeAssistant, url: str) -> tuple[str, str]:
    """Start a flow with sharing on up to the preview; returns (flow id, preview text)."""
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: True, CONF_ENDPOINT: url}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "preview"
    assert result["menu_options"] == ["confirm_share", "decline_share"]
    assert result["description_placeholders"]["endpoint"] == url
    return flow_id, str(result["description_placeholders"]["payload"])


async def test_create_without_sharing(hass: HomeAssistant) -> None:
    """Sharing stays off: no preview, no network, an entry with sharing off."""
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: False, CONF_ENDPOINT: DEFAULT_ENDPOINT + "/"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Printernizer usage statistics"
    assert result["data"] == {CONF_ENDPOINT: DEFAULT_ENDPOINT}
    assert result["options"] == {CONF_SHARE: False, CONF_RETENTION_DAYS: 90}
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    settings = await entry.runtime_data.service.get_settings()
    assert not settings.opted_in
    assert settings.installation_id is None


async def test_sharing_defaults_to_off(hass: HomeAssistant) -> None:
    """The sharing toggle's default is off and the endpoint defaults to the project's server."""
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_SHARE] is False
    assert result["data"][CONF_ENDPOINT] == DEFAULT_ENDPOINT


async def test_preview_then_confirm(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Sharing on: the reachable endpoint leads to the exact payload, then to consent."""
    url, db_file = aggregation_server
    flow_id, preview = await _to_preview_step(hass, url)
    assert "schema_version: 2.0" in preview.splitlines()
    assert "  deployment_mode: homeassistant" in preview.splitlines()
    shown_id = shown_installation_id(preview)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "confirm_share"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_SHARE] is True
    await hass.async_block_till_done()
    entry = result["result"]
    settings = await entry.runtime_data.service.get_settings()
    assert settings.opted_in
    assert settings.endpoint == url
    assert str(settings.installation_id) == shown_id
    # The identity went from the flow into the database; the entry no longer carries it.
    assert CONF_INSTALLATION_ID not in entry.data
    assert CONF_DELETION_SECRET not in entry.data
    # Nothing was sent before consent; the first report goes out after it, and it is the
    # report the preview showed, field for field.
    assert server_rows(db_file) == []
    await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
    rows = server_rows(db_file)
    assert len(rows) == 1
    assert format_payload(str(rows[0][-1])) == preview


async def test_preview_fits_the_dialog(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Every line of the preview fits a narrow dialog; long values wrap instead of running off."""
    url, _db = aggregation_server
    _flow_id, preview = await _to_preview_step(hass, url)
    lines = preview.splitlines()
    assert max(len(line) for line in lines) <= PREVIEW_LINE_WIDTH
    # The 64-character hash is on the lines below its key, cut into equal pieces.
    at = lines.index("deletion_key_hash:")
    assert [len(line.strip()) for line in lines[at + 1 : at + 3]] == [32, 32]


async def test_abandoned_preview_writes_nothing(
    hass: HomeAssistant, config_dir: Path, aggregation_server: tuple[str, Path]
) -> None:
    """A flow left at the preview leaves no database and no id; the next setup makes new ones."""
    url, _db = aggregation_server
    flow_id, preview = await _to_preview_step(hass, url)
    abandoned_id = shown_installation_id(preview)
    assert db_files(config_dir) == []
    hass.config_entries.flow.async_abort(flow_id)
    await hass.async_block_till_done()
    assert db_files(config_dir) == []

    flow_id, preview = await _to_preview_step(hass, url)
    shown_id = shown_installation_id(preview)
    assert shown_id != abandoned_id
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "confirm_share"}
    )
    await hass.async_block_till_done()
    settings = await result["result"].runtime_data.service.get_settings()
    assert str(settings.installation_id) == shown_id


async def test_decline_after_preview_keeps_no_identity(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Declining at the preview: the id that was shown is not kept anywhere."""
    url, _db = aggregation_server
    flow_id, preview = await _to_preview_step(hass, url)
    shown_id = shown_installation_id(preview)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "decline_share"}
    )
    await hass.async_block_till_done()
    entry = result["result"]
    assert shown_id not in json.dumps(dict(entry.data))
    export = await entry.runtime_data.service.export()
    assert shown_id not in json.dumps(export["tables"])


async def test_preview_then_decline(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Declining after the preview creates the entry with sharing off."""
    url, db_file = aggregation_server
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: True, CONF_ENDPOINT: url}
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "decline_share"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_SHARE] is False
    await hass.async_block_till_done()
    assert not await result["result"].runtime_data.service.is_opted_in()
    assert server_rows(db_file) == []


@pytest.mark.parametrize(
    ("share", "endpoint", "error"),
    [
        (False, "not a url", "invalid_url"),
        (False, "ftp://usage.example.org", "invalid_url"),
        (False, "http://usage.example.org", "https_required"),
        (True, "http://usage.example.org", "https_required"),
    ],
)
async def test_invalid_endpoint(
    hass: HomeAssistant, share: bool, endpoint: str, error: str
) -> None:
    """A malformed or plain-http endpoint is refused whether sharing is on or off."""
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: share, CONF_ENDPOINT: endpoint}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ENDPOINT: error}
    # The form can be corrected in place.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: False, CONF_ENDPOINT: DEFAULT_ENDPOINT}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unreachable_endpoint(hass: HomeAssistant, closed_endpoint: str) -> None:
    """With sharing on the endpoint is probed; a refused connection is cannot_connect."""
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: True, CONF_ENDPOINT: closed_endpoint}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ENDPOINT: "cannot_connect"}
    # Sharing off: the same endpoint is not contacted at all, so it is accepted.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: False, CONF_ENDPOINT: closed_endpoint}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_not_a_statistics_server(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """A server without /health is not a statistics server."""
    url, _db = aggregation_server
    flow_id = await _to_sharing_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SHARE: True, CONF_ENDPOINT: f"{url}/not-here"}
    )
    assert result["errors"] == {CONF_ENDPOINT: "bad_response"}


async def test_abort_when_already_configured(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Only one entry: a second flow aborts."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"


async def test_reconfigure(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """The endpoint can be changed; with sharing off only its shape is checked."""
    entry = init_integration
    runtime = entry.runtime_data
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENDPOINT: "http://usage.example.org"}
    )
    assert result["errors"] == {CONF_ENDPOINT: "https_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENDPOINT: "https://stats.example.org/ "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_ENDPOINT] == "https://stats.example.org"
    assert entry.state is ConfigEntryState.LOADED
    # Taken over by the running engine, without a reload.
    assert entry.runtime_data is runtime
    settings = await entry.runtime_data.service.get_settings()
    assert settings.endpoint == "https://stats.example.org"


async def test_reconfigure_probes_while_sharing(
    hass: HomeAssistant,
    closed_endpoint: str,
    aggregation_server: tuple[str, Path],
) -> None:
    """While sharing is on, a new endpoint must answer before it is saved."""
    url, _db = aggregation_server
    mock_config_entry = await setup_entry(hass, build_entry(url, share=True))
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENDPOINT: closed_endpoint}
    )
    assert result["errors"] == {CONF_ENDPOINT: "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENDPOINT: url + "/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()


async def test_options_retention(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Changing only the retention keeps sharing off and reaches the engine."""
    entry = init_integration
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: False, CONF_RETENTION_DAYS: 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {CONF_SHARE: False, CONF_RETENTION_DAYS: 30}
    settings = await entry.runtime_data.service.get_settings()
    assert settings.retention_days == 30
    assert not settings.opted_in


async def test_options_turn_sharing_on_with_preview(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Switching sharing on shows the same preview; confirming opts in."""
    url, _db = aggregation_server
    mock_config_entry = await setup_entry(hass, build_entry(url))
    service = mock_config_entry.runtime_data.service

    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: True, CONF_RETENTION_DAYS: 60}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "preview"
    assert result["description_placeholders"]["payload"] == format_payload(await service.preview())
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "confirm_share"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert mock_config_entry.options == {CONF_SHARE: True, CONF_RETENTION_DAYS: 60}
    # The running engine took the new options over (no reload).
    assert mock_config_entry.runtime_data.service is service
    assert await service.is_opted_in()


async def test_options_decline_after_preview(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Declining keeps sharing off but applies the other choices."""
    url, _db = aggregation_server
    mock_config_entry = await setup_entry(hass, build_entry(url))
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: True, CONF_RETENTION_DAYS: 45}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "decline_share"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert mock_config_entry.options == {CONF_SHARE: False, CONF_RETENTION_DAYS: 45}
    assert not await mock_config_entry.runtime_data.service.is_opted_in()


async def test_options_unreachable_endpoint(hass: HomeAssistant, closed_endpoint: str) -> None:
    """Switching sharing on with an unreachable endpoint shows an error on the form."""
    mock_config_entry = await setup_entry(hass, build_entry(closed_endpoint))
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: True, CONF_RETENTION_DAYS: 90}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"] == {"endpoint": closed_endpoint}


async def test_options_opt_out_with_deletion(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Opting out can ask the server to delete this installation's data, and it does."""
    url, db_file = aggregation_server
    mock_config_entry = await setup_entry(hass, build_entry(url, share=True))
    await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
    assert len(server_rows(db_file)) == 1

    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: False, CONF_RETENTION_DAYS: 90, CONF_DELETE_REMOTE: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert server_rows(db_file) == []
    settings = await mock_config_entry.runtime_data.service.get_settings()
    assert not settings.opted_in
    assert settings.installation_id is None


async def test_options_opt_out_keeps_server_data(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """Opting out without deletion stops sending and leaves the server alone."""
    url, db_file = aggregation_server
    mock_config_entry = await setup_entry(hass, build_entry(url, share=True))
    await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: False, CONF_RETENTION_DAYS: 90}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert len(server_rows(db_file)) == 1
    assert not await mock_config_entry.runtime_data.service.is_opted_in()


async def test_options_reopened_right_after_a_change(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Saving options does not reload the entry: the dialog can be opened again at once."""
    entry = init_integration
    runtime = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SHARE: False, CONF_RETENTION_DAYS: 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # At once, while the update listener applies the change, and again after it did.
    for _ in range(2):
        result = await hass.config_entries.options.async_init(entry.entry_id)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "init"
        hass.config_entries.options.async_abort(result["flow_id"])
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is runtime
    assert not runtime.closed
    assert (await runtime.service.get_settings()).retention_days == 30


async def test_options_when_not_loaded(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Options need the running engine; a failed setup gets a translated, explained abort."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_loaded"


async def test_leftover_candidate_id_is_not_reused(
    hass: HomeAssistant, config_dir: Path, aggregation_server: tuple[str, Path]
) -> None:
    """A database an older version left behind at the preview (with a candidate id and a
    deletion secret) does not lend its id to the next setup: the preview's id wins."""
    from custom_components.printernizer_usage.sharing import async_create_service

    leftover = await async_create_service(hass)
    await leftover.start()
    await leftover.store.set_settings(
        {
            "candidate_installation_id": "0b7e7f6c-5d1a-4c55-9a53-3f0b1b4f2c11",
            "deletion_secret": "left-behind-secret",
        }
    )
    await leftover.stop()

    url, _db = aggregation_server
    flow_id, preview = await _to_preview_step(hass, url)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "confirm_share"}
    )
    await hass.async_block_till_done()
    service = result["result"].runtime_data.service
    settings = await service.get_settings()
    assert str(settings.installation_id) == shown_installation_id(preview)
    assert await service.deletion_secret() != "left-behind-secret"
    assert "0b7e7f6c" not in json.dumps((await service.export())["tables"])
