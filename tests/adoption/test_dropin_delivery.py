"""The drop-in delivers to a real aggregation server as Printernizer's scheduler drives it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from printernizer_usage_core.printernizer import UsageStatisticsService

from tests.service.test_roundtrip import aggregation_server

from .call_sites import CALL_SITES
from .conftest import Database, Printer, PrinterService


async def test_opt_in_report_reaches_the_server(tmp_path: Path) -> None:
    async with aggregation_server(tmp_path) as (server_url, server_app):
        service = UsageStatisticsService(
            Database(tmp_path / "printernizer.db"),
            app_version="2.7.0",
            environ={},
            time_zone="Europe/Berlin",
            endpoint=server_url,
        )
        await service.initialize()
        service.set_printer_service(PrinterService([Printer("bambu_lab"), Printer("prusa")]))
        for site in CALL_SITES:
            await service.record_event(site.event_type, site.metadata)
        opted = await service.opt_in()
        # Opting in sends the first report at once (the submitter wakes on the change).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await service.last_submission() is None:
            assert loop.time() < deadline, "the first report was not delivered"
            await asyncio.sleep(0.05)
        # Printernizer's UsageStatisticsScheduler: asks, finds it sent, gets True.
        assert await service.submit_stats() is True
        last = await service.repository.get_setting("last_submission_date")
        assert last is not None and datetime.fromisoformat(last).tzinfo is None  # as upstream
        assert (await service.get_local_stats()).last_submission is not None
        repo = server_app.config["REPOSITORY"]
        known, key_hash = await repo.deletion_key_hash(opted.installation_id)
        assert known and key_hash
        await service.shutdown()
