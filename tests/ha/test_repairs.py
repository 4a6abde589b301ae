"""The repair issue: raised when sending has failed for two periods, removed once it works."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.printernizer_usage.const import (
    CONF_ENDPOINT,
    DOMAIN,
    ISSUE_SUBMISSION_FAILING,
)

from .helpers import Clock, build_entry, setup_entry


async def test_repair_issue_when_sending_fails(
    hass: HomeAssistant,
    clock: Clock,
    closed_endpoint: str,
    aggregation_server: tuple[str, Path],
    issue_registry: ir.IssueRegistry,
) -> None:
    """Two weeks of failures raise the issue; a working endpoint clears it."""
    clock.start_in_the_past(days=21)
    entry = await setup_entry(hass, build_entry(closed_endpoint, share=True))
    coordinator = entry.runtime_data.coordinator
    await entry.runtime_data.submitter.submit_now()
    await coordinator.async_refresh()
    assert coordinator.data.status.last_error is not None
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_SUBMISSION_FAILING) is None

    clock.advance(timedelta(days=8))
    await coordinator.async_refresh()
    assert coordinator.data.status.failing_periods == 1
    assert hass.states.get("sensor.printernizer_usage_statistics_sharing_status").state == (
        "failing"
    )
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_SUBMISSION_FAILING) is None

    clock.advance(timedelta(days=7))
    await coordinator.async_refresh()
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE_SUBMISSION_FAILING)
    assert issue is not None
    assert issue.translation_key == ISSUE_SUBMISSION_FAILING
    assert issue.translation_placeholders["periods"] == "2"
    assert issue.translation_placeholders["endpoint"] == closed_endpoint

    # The user points the integration at a working server: the backlog goes out, issue gone.
    url, _db = aggregation_server
    result = await entry.start_reconfigure_flow(hass)
    await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ENDPOINT: url})
    await hass.async_block_till_done()
    await hass.services.async_call(DOMAIN, "submit_now", blocking=True)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_SUBMISSION_FAILING) is None
