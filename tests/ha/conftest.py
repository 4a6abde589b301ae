"""Fixtures for the Home Assistant integration tests (pytest-homeassistant-custom-component)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.printernizer_usage.const import (
    CONF_ENDPOINT,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    DOMAIN,
)

from .helpers import Clock

ENTRY_ID = "01JPRINTERNIZERUSAGE00000"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots of Home Assistant objects, stored in tests/ha/snapshots/."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A fresh configuration directory per test: the SQLite file lives there."""
    hass.config.config_dir = str(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def no_do_not_track(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide about DO_NOT_TRACK themselves."""
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    monkeypatch.delenv("PRINTERNIZER_USAGE_DISABLED", raising=False)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_endpoint(socket_enabled: None) -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A config entry with sharing off."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Printernizer usage statistics",
        entry_id=ENTRY_ID,
        data={CONF_ENDPOINT: "https://usage.printernizer.com"},
        options={CONF_SHARE: False, CONF_RETENTION_DAYS: 90},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The integration set up with sharing off."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


@pytest.fixture
async def aggregation_server(
    socket_enabled: None, tmp_path: Path
) -> AsyncGenerator[tuple[str, Path]]:
    """The real aggregation server (Quart on hypercorn) on 127.0.0.1; yields (url, db file)."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from aggregation.app import create_app
    from aggregation.settings import Settings

    db_file = tmp_path / "aggregation.db"
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{db_file}",
        host="127.0.0.1",
        port=port,
        address_rate_limit_per_minute=0,
        reports_dir=str(tmp_path / "reports"),
        report_schedule="off",
        log_level="WARNING",
        session_cookie_secure=False,
    )
    app = create_app(settings)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    shutdown = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
    url = f"http://127.0.0.1:{port}"
    await _wait_until_listening(port)
    try:
        yield url, db_file
    finally:
        shutdown.set()
        await asyncio.wait_for(task, timeout=10)


async def _wait_until_listening(port: int) -> None:
    for _ in range(200):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("the aggregation server did not start")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Engines created by the integration run on a clock the test can move forward."""
    from custom_components.printernizer_usage import sharing
    from custom_components.printernizer_usage.core.service import UsageStatsService

    test_clock = Clock()

    def _service(*args: object, **kwargs: object) -> UsageStatsService:
        return UsageStatsService(*args, clock=test_clock, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sharing, "UsageStatsService", _service)
    return test_clock
