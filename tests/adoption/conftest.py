"""Fixtures for adoption by Printernizer: the drop-in on real SQLite files, the real service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from printernizer_usage_core.printernizer import UsageStatisticsService

# The standalone service served by hypercorn, as the service suite starts it.
from tests.service.conftest import http, start_service, svc  # noqa: F401


@dataclass
class Printer:
    """What Printernizer's PrinterService.list_printers() yields, as far as we read it."""

    type: Any
    name: str = "Alice's A1 in the garage"
    ip_address: str = "192.168.1.23"
    serial_number: str = "01P00A123456789"


class PrinterService:
    """Printernizer's printer service interface as the drop-in uses it."""

    def __init__(self, printers: list[Printer]) -> None:
        self.printers = printers

    async def list_printers(self) -> list[Printer]:
        return list(self.printers)


class Database:
    """Printernizer's Database as far as the drop-in reads it: the path of its SQLite file."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path


@pytest.fixture
async def dropin(tmp_path: Path) -> AsyncIterator[UsageStatisticsService]:
    """The drop-in constructed the way Printernizer constructs its own, without sending."""
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"),
        app_version="2.7.0",
        environ={},
        time_zone="Europe/Berlin",
        submit=False,
    )
    await service.initialize()
    yield service
    await service.shutdown()
