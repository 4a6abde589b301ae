"""End to end: the integration really submits to, and deletes from, the aggregation server.

Over Home Assistant's own client session, to the server addressed as 127.0.0.1 and by host
name (http://localhost:<port>, as the docs tell a user to point it at a server on the same
machine: Home Assistant's resolver and the plain-HTTP-for-localhost rule take part).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.printernizer_usage.const import (
    CONF_ENDPOINT,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    CONF_SUBMIT_KEY,
    DOMAIN,
    REFRESH_COOLDOWN,
)
from custom_components.printernizer_usage.sharing import format_payload

from .helpers import Clock, build_entry, server_rows, settle, setup_entry
from .servers import serve_aggregation


async def test_submit_and_delete_by_address(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """The server as http://127.0.0.1:<port>."""
    await _opt_in_submit_and_delete(hass, *aggregation_server)


async def test_submit_and_delete_by_host_name(
    hass: HomeAssistant, aggregation_server_by_name: tuple[str, Path]
) -> None:
    """The server as http://localhost:<port>."""
    assert aggregation_server_by_name[0].startswith("http://localhost:")
    await _opt_in_submit_and_delete(hass, *aggregation_server_by_name)


async def _opt_in_submit_and_delete(hass: HomeAssistant, url: str, db_file: Path) -> None:
    """Opt in through the flow; the report the preview showed is the one the server stores;
    deleting everything has the server delete it too."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SHARE: True, CONF_ENDPOINT: url}
    )
    assert result["type"] is FlowResultType.MENU
    shown = result["description_placeholders"]["payload"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "confirm_share"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_ENDPOINT] == url

    # The first report (the week before opting in) is due at once.
    response = await hass.services.async_call(
        DOMAIN, "submit_now", blocking=True, return_response=True
    )
    assert response is not None
    assert response["state"] == "on"
    assert response["last_success"] is not None
    rows = server_rows(db_file)
    assert len(rows) == 1
    stored = json.loads(rows[0][-1])
    # The preview showed before consent what the server stored, the id included.
    assert format_payload(str(rows[0][-1])) == shown
    assert f"installation_id:\n    {stored['installation']['installation_id']}" in shown

    await settle(hass, entry)
    assert hass.states.get("sensor.printernizer_usage_statistics_sharing_status").state == "on"
    last = hass.states.get("sensor.printernizer_usage_statistics_last_submission")
    assert last.state != STATE_UNKNOWN

    await hass.services.async_call(DOMAIN, "delete_all", {"delete_remote": True}, blocking=True)
    await hass.async_block_till_done()
    assert server_rows(db_file) == []
    assert entry.options[CONF_SHARE] is False


SUBMIT_KEY = "submit-key-0123456789abcdef"
STATUS = "sensor.printernizer_usage_statistics_sharing_status"
LAST = "sensor.printernizer_usage_statistics_last_submission"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost"],
)
async def test_submit_key_from_the_setup_flow(
    hass: HomeAssistant, real_resolver: None, tmp_path: Path, host: str
) -> None:
    """A server with SUBMIT_KEY set takes the reports once the key is given in the setup flow
    (addressed as users type it: by IP and by host name)."""
    async with serve_aggregation(tmp_path, submit_key=SUBMIT_KEY) as (port, db_file):
        url = f"http://{host}:{port}"
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        key_field = next(
            field for field in result["data_schema"].schema if field == CONF_SUBMIT_KEY
        )
        selector = result["data_schema"].schema[key_field]
        assert selector.config["type"] == "password"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_SHARE: True, CONF_ENDPOINT: url, CONF_SUBMIT_KEY: f" {SUBMIT_KEY} "},
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "confirm_share"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_SUBMIT_KEY] == SUBMIT_KEY
        await hass.async_block_till_done()
        await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
        assert len(server_rows(db_file)) == 1


async def test_submit_key_added_with_reconfigure(
    hass: HomeAssistant, socket_enabled: None, tmp_path: Path
) -> None:
    """Without the key the server refuses (401, translated error); reconfigure adds it."""
    async with serve_aggregation(tmp_path, submit_key=SUBMIT_KEY) as (port, db_file):
        url = f"http://127.0.0.1:{port}"
        entry = await setup_entry(hass, build_entry(url))
        runtime = entry.runtime_data
        result = await entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ENDPOINT: url, CONF_SUBMIT_KEY: SUBMIT_KEY}
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert entry.data == {CONF_ENDPOINT: url, CONF_SUBMIT_KEY: SUBMIT_KEY}
        assert runtime.submitter.submit_key == SUBMIT_KEY
        hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SHARE: True})
        await hass.async_block_till_done()
        await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
        assert len(server_rows(db_file)) == 1

        # An empty field removes the key again.
        result = await entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ENDPOINT: url, CONF_SUBMIT_KEY: ""}
        )
        await hass.async_block_till_done()
        assert CONF_SUBMIT_KEY not in entry.data
        assert runtime.submitter.submit_key is None


async def test_submit_key_in_the_options(
    hass: HomeAssistant, clock: Clock, socket_enabled: None, tmp_path: Path
) -> None:
    """A refused report (no key) shows as failing; with the key from the options the next
    report goes through, on the same running engine."""
    clock.start_in_the_past(days=14)
    async with serve_aggregation(tmp_path, submit_key=SUBMIT_KEY) as (port, db_file):
        url = f"http://127.0.0.1:{port}"
        entry = await setup_entry(hass, build_entry(url, share=True))
        runtime = entry.runtime_data
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
        assert err.value.translation_key == "submission_failed"
        assert "HTTP 401" in str(err.value.translation_placeholders["error"])
        assert hass.states.get(STATUS).state == "failing"

        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_SHARE: True, CONF_RETENTION_DAYS: 90, CONF_SUBMIT_KEY: SUBMIT_KEY},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert entry.data[CONF_SUBMIT_KEY] == SUBMIT_KEY
        assert entry.runtime_data is runtime

        clock.advance(timedelta(days=8))
        await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
        assert len(server_rows(db_file)) == 1
        await hass.async_block_till_done()
        assert hass.states.get(STATUS).state == "on"


async def _background_attempt(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """One pass of the sender's background loop, then let the debounced refresh run.

    Nothing here refreshes the entities: they must follow the attempt by themselves.
    """
    await entry.runtime_data.submitter.run_pending()
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=REFRESH_COOLDOWN + 1))
    await hass.async_block_till_done()


async def test_sharing_status_after_a_successful_delivery(
    hass: HomeAssistant, aggregation_server: tuple[str, Path]
) -> None:
    """The background delivery updates "Sharing status" and "Last submission" on its own."""
    url, db_file = aggregation_server
    entry = await setup_entry(hass, build_entry(url, share=True))
    await _background_attempt(hass, entry)
    assert len(server_rows(db_file)) == 1
    assert hass.states.get(STATUS).state == "on"
    assert hass.states.get(STATUS).attributes["last_error"] is None
    assert hass.states.get(LAST).state not in (STATE_UNKNOWN, "unavailable")


async def test_failed_attempt_refreshes_the_entities(
    hass: HomeAssistant, closed_endpoint: str
) -> None:
    """A failed attempt (connection refused) reaches the entities without a success."""
    entry = await setup_entry(hass, build_entry(closed_endpoint, share=True))
    await _background_attempt(hass, entry)
    attributes = hass.states.get(STATUS).attributes
    assert "cannot connect" in attributes["last_error"]
    assert attributes["last_attempt"] is not None
    assert attributes["pending_periods"] == 1
    assert hass.states.get(LAST).state == STATE_UNKNOWN


async def test_sharing_status_failing_after_first_failed_attempt(
    hass: HomeAssistant, closed_endpoint: str
) -> None:
    """A report that is due and could not be delivered shows as failing at once."""
    entry = await setup_entry(hass, build_entry(closed_endpoint, share=True))
    await _background_attempt(hass, entry)
    assert hass.states.get(STATUS).state == "failing"
