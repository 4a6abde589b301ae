"""Small helpers shared by the Home Assistant tests."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry


async def settle(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Write queued events and refresh the entities (what the timers would do later)."""
    runtime = entry.runtime_data
    await runtime.service.flush()
    await hass.async_block_till_done()
    await runtime.coordinator.async_refresh()
    await hass.async_block_till_done()


def server_rows(db_file: Path, table: str = "submissions") -> list[tuple[object, ...]]:
    """Rows the aggregation server stored (read straight from its SQLite file)."""
    with sqlite3.connect(db_file) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


def build_entry(
    endpoint: str = "https://usage.printernizer.com", *, share: bool = False, retention: int = 90
) -> MockConfigEntry:
    """A config entry as the config flow would create it."""
    from custom_components.printernizer_usage.const import (
        CONF_ENDPOINT,
        CONF_RETENTION_DAYS,
        CONF_SHARE,
        DOMAIN,
    )

    return MockConfigEntry(
        domain=DOMAIN,
        title="Printernizer usage statistics",
        entry_id="01JPRINTERNIZERUSAGE00000",
        data={CONF_ENDPOINT: endpoint},
        options={CONF_SHARE: share, CONF_RETENTION_DAYS: retention},
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add and set up an entry, waiting for everything it started."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


class Clock:
    """The engine's clock in tests: the real time plus an offset the test moves forward.

    Only the engine's notion of "today" moves (periods, failing since); the event loop keeps
    real time, so real servers and timeouts keep working.
    """

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the engine's clock forward."""
        self.offset += delta

    def start_in_the_past(self, days: int) -> None:
        """Let the engine's weeks pass before the real now: a real aggregation server refuses
        a report whose period ends after its own clock (plus a day), as it should."""
        self.offset = -timedelta(days=days)
