"""Fixtures for the Home Assistant integration tests (pytest-homeassistant-custom-component)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_socket
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from custom_components.printernizer_usage.const import (
    CONF_ENDPOINT,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    DOMAIN,
)

from .helpers import Clock
from .servers import serve_aggregation

ENTRY_ID = "01JPRINTERNIZERUSAGE00000"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


# The Home Assistant release series under test ("2025.4"); snapshots are kept per series.
HA_SERIES = f"{MAJOR_VERSION}.{MINOR_VERSION}"


class SeriesSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshots, in tests/ha/snapshots/<series>/.

    How Home Assistant serialises its objects changes between releases (registry entries gain
    fields, sets become lists), so each tested release keeps its own exact snapshots.
    """

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """tests/ha/snapshots/<series>/."""
        return str(Path(super().dirname(test_location=test_location)) / HA_SERIES)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots of Home Assistant objects, per Home Assistant series."""
    return snapshot.use_extension(SeriesSnapshotExtension)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Python deprecation warnings fail the Home Assistant tests (they break a later release)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("error::DeprecationWarning"))


class _DeprecationReports(logging.Handler):
    """Collects Home Assistant's reports of deprecated use (frame and deprecation helpers)."""

    MARKERS = ("Detected that custom integration", "Detected code that", "The deprecated ")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(self.MARKERS):
            self.reports.append(message)


@pytest.fixture(autouse=True)
def fail_on_deprecated_use() -> Generator[None]:
    """Home Assistant's deprecation reports fail the test, even where a caller swallowed them.

    For custom integrations Home Assistant only logs most of them (they become errors in the
    release named in the report); catching them in the log also sees the ones that were
    raised and then caught by a broad `except`.
    """
    handler = _DeprecationReports()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.reports, f"deprecated use reported by Home Assistant: {handler.reports}"


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


@asynccontextmanager
async def _serve_aggregation(tmp_path: Path, host: str) -> AsyncIterator[tuple[str, Path]]:
    """The real aggregation server (Quart on hypercorn) on loopback; yields (url, db file)."""
    async with serve_aggregation(tmp_path) as (port, db_file):
        yield f"http://{host}:{port}", db_file


@pytest.fixture
async def aggregation_server(
    socket_enabled: None, tmp_path: Path
) -> AsyncGenerator[tuple[str, Path]]:
    """The real aggregation server, addressed as http://127.0.0.1:<port>."""
    async with _serve_aggregation(tmp_path, "127.0.0.1") as server:
        yield server


@pytest.fixture
def real_resolver(
    socket_enabled: None,
    disable_mock_zeroconf_resolver: None,
    mock_async_zeroconf: object,
) -> None:
    """Home Assistant's client session resolves host names as for a user.

    pytest-homeassistant-custom-component's supported switches: `socket_enabled` lets the
    test use real sockets (otherwise only 127.0.0.1), and `disable_mock_zeroconf_resolver`
    gives Home Assistant's client session its real resolver (the default stand-in is shared
    across tests' event loops); only the mDNS half of it is mocked (`mock_async_zeroconf`).
    `localhost` may be ::1 first, so IPv6 loopback is allowed beside 127.0.0.1 (pytest-socket's
    allow list, which `socket_enabled` keeps).
    """
    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1"], allow_unix_socket=True)


@pytest.fixture
async def aggregation_server_by_name(
    real_resolver: None, tmp_path: Path
) -> AsyncGenerator[tuple[str, Path]]:
    """The real aggregation server, addressed by host name: http://localhost:<port>."""
    async with _serve_aggregation(tmp_path, "localhost") as server:
        yield server


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
