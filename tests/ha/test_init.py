"""Setup, unload, removal and Home Assistant start/stop of the integration."""

from __future__ import annotations

from pathlib import Path

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.printernizer_usage.const import DB_FILE

from .helpers import build_entry


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, config_dir: Path
) -> None:
    """The entry loads, opens its database in the config dir and unloads cleanly."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert (config_dir / ".storage" / DB_FILE).exists()
    runtime = entry.runtime_data
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert runtime.closed


async def test_remove_deletes_the_database(
    hass: HomeAssistant, init_integration: MockConfigEntry, config_dir: Path
) -> None:
    """Removing the integration removes its local database."""
    db = config_dir / ".storage" / DB_FILE
    assert db.exists()
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not db.exists()
    assert not db.with_name(DB_FILE + "-wal").exists()


async def test_database_cannot_be_opened(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, config_dir: Path
) -> None:
    """An unusable database location means 'not ready' (retried), not a crash."""
    (config_dir / ".storage").write_text("not a directory")
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert mock_config_entry.reason is not None


async def test_failed_setup_closes_the_engine(hass: HomeAssistant, config_dir: Path) -> None:
    """A failure after the engine started still closes it (no task or file left open)."""
    entry = build_entry(retention=0)  # outside 1..3650: the engine refuses it
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.runtime_data.closed
