"""Fixtures for the core tests: real SQLite files in a temporary folder and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from printernizer_usage_core.privacy import COUNTERS
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.store import UsageStore


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 18, 14, 30, 5, tzinfo=UTC))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[UsageStore]:
    usage_store = UsageStore(tmp_path / "usage.db")
    await usage_store.open()
    yield usage_store
    await usage_store.close()


@pytest.fixture
async def make_service(tmp_path: Path, clock: Clock):
    """Build services on one file; whatever a test leaves running is stopped afterwards."""
    started: list[UsageStatsService] = []

    async def factory(**kwargs) -> UsageStatsService:
        kwargs.setdefault("app_version", "2.4.0")
        kwargs.setdefault("time_zone", "Europe/Berlin")
        kwargs.setdefault("environ", {})
        kwargs.setdefault("clock", clock)
        service = UsageStatsService(kwargs.pop("path", tmp_path / "usage.db"), **kwargs)
        await service.start()
        started.append(service)
        return service

    yield factory
    for service in started:
        if service.store.is_open:
            await service.stop()


@pytest.fixture
async def service(make_service) -> UsageStatsService:
    return await make_service()


@pytest.fixture(autouse=True)
def _reset_guard_counters() -> None:
    COUNTERS.rejected_events = 0
    COUNTERS.dropped_fields = 0
