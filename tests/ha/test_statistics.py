"""Long-term statistics of the weekly counters: what the example dashboard's graph draws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceGenerator

from custom_components.printernizer_usage.const import DOMAIN

from .helpers import settle, setup_entry

JOBS = "sensor.printernizer_usage_statistics_jobs_completed_this_week"


@pytest.fixture
def mock_recorder_before_hass(async_setup_recorder_instance: RecorderInstanceGenerator) -> None:
    """The recorder's database is prepared before Home Assistant starts."""


async def _job_completed(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        DOMAIN, "record_event", {"event_type": "job_completed"}, blocking=True
    )


async def _compile_statistics(hass: HomeAssistant, hour: datetime) -> None:
    """What the recorder does every five minutes, for the whole hour from `hour`: short-term
    statistics of each slot, and at the last slot the hour's long-term statistics."""
    await async_wait_recording_done(hass)
    for minute in range(0, 60, 5):
        do_adhoc_statistics(hass, start=hour + timedelta(minutes=minute))
    await async_wait_recording_done(hass)


async def test_long_term_statistics_count_jobs_per_day(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
) -> None:
    """What the example dashboard's statistics graph draws: the daily "change" of the weekly
    counter is the number of jobs that day, also across the Monday reset."""
    await hass.config.async_set_time_zone("UTC")
    sunday = datetime(2026, 12, 6, 10, tzinfo=UTC)
    freezer.move_to(sunday)
    entry = await setup_entry(hass, mock_config_entry)
    await _job_completed(hass)
    await _job_completed(hass)
    await settle(hass, entry)
    await _compile_statistics(hass, sunday)
    freezer.move_to(sunday + timedelta(hours=2))
    await _job_completed(hass)
    await settle(hass, entry)
    await _compile_statistics(hass, sunday + timedelta(hours=2))

    monday = datetime(2026, 12, 7, 10, tzinfo=UTC)
    freezer.move_to(monday)
    await settle(hass, entry)
    await _job_completed(hass)
    await settle(hass, entry)
    assert hass.states.get(JOBS).state == "1"
    await _compile_statistics(hass, monday)

    stats = await hass.async_add_executor_job(
        partial(
            statistics_during_period,
            hass,
            datetime(2026, 12, 6, tzinfo=UTC),
            None,
            {JOBS},
            "day",
            None,
            {"change", "state"},
        )
    )
    assert [(row["change"], row["state"]) for row in stats[JOBS]] == [(3.0, 3.0), (1.0, 1.0)]
