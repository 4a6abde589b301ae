"""End to end: the integration really submits to, and deletes from, the aggregation server.

Over Home Assistant's own client session, to the server addressed as 127.0.0.1 and by host
name (http://localhost:<port>, as the docs tell a user to point it at a server on the same
machine: Home Assistant's resolver and the plain-HTTP-for-localhost rule take part).
"""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.printernizer_usage.const import CONF_ENDPOINT, CONF_SHARE, DOMAIN

from .helpers import server_rows, settle


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
    shown = json.loads(result["description_placeholders"]["payload"])
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
    # The id the preview showed before consent is the id the server knows.
    assert stored["installation"]["installation_id"] == shown["installation"]["installation_id"]
    assert stored["period"] == shown["period"]

    await settle(hass, entry)
    assert hass.states.get("sensor.printernizer_usage_statistics_sharing_status").state == "on"
    last = hass.states.get("sensor.printernizer_usage_statistics_last_submission")
    assert last.state != STATE_UNKNOWN

    await hass.services.async_call(DOMAIN, "delete_all", {"delete_remote": True}, blocking=True)
    await hass.async_block_till_done()
    assert server_rows(db_file) == []
    assert entry.options[CONF_SHARE] is False
