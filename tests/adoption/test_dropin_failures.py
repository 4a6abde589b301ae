"""The drop-in never raises into Printernizer: a store that will not open, calls after shutdown."""

from __future__ import annotations

import json
from pathlib import Path

from printernizer_usage_core.printernizer import UsageStatisticsService
from printernizer_usage_core.printernizer_client import UsageStatsClient

from printernizer_usage_service.server import free_port

from .conftest import Database, Printer, PrinterService


class BrokenPrinterService:
    async def list_printers(self) -> list[Printer]:
        raise ConnectionError("database is locked")


async def test_every_method_after_shutdown_answers_like_upstreams_failures(
    tmp_path: Path,
) -> None:
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"), app_version="2.7.0", environ={}, submit=False
    )
    await service.initialize()
    await service.shutdown()
    await service.shutdown()  # twice is harmless
    assert await service.is_opted_in() is False
    assert (await service.opt_in()).success is False
    assert (await service.opt_out()).success is False
    local = await service.get_local_stats()
    assert (local.installation_id, local.opt_in_status) == ("error", "unknown")
    assert json.loads(await service.export_stats()) == {"error": "StoreError"}
    assert await service.delete_all_stats() is False
    assert await service.aggregate_stats() is None
    assert await service.submit_stats() is False
    assert await service.record_event("job_failed") is not None  # queued, written never


async def test_a_store_that_cannot_open_is_logged_not_raised(tmp_path: Path) -> None:
    garbage = tmp_path / "usage_statistics.db"
    garbage.write_bytes(b"this is not an SQLite database, it is some other file" * 100)
    service = UsageStatisticsService(db_path=garbage, app_version="2.7.0", environ={}, submit=False)
    await service.initialize()
    assert await service.record_event("app_start") is not None
    assert await service.is_opted_in() is False
    await service.shutdown()


async def test_fleet_errors_and_wiring_outside_the_event_loop(tmp_path: Path) -> None:
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"), app_version="2.7.0", environ={}, submit=False
    )
    await service.initialize()
    service.set_printer_service(BrokenPrinterService())
    stats = await service.aggregate_stats()  # the fleet stays empty, the report still builds
    assert stats is not None and stats.printer_fleet.printer_count == 0
    await service.shutdown()


def test_set_printer_service_before_the_loop_runs(tmp_path: Path) -> None:
    # Printernizer may wire services before its event loop starts: no task, no error.
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"), app_version="2.7.0", submit=False
    )
    service.set_printer_service(PrinterService([Printer("bambu_lab")]))


async def test_with_the_weekly_sender_and_no_server(tmp_path: Path) -> None:
    """submit=True, the server unreachable: Printernizer's scheduler hears False, nothing raises."""
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"),
        app_version="2.7.0",
        environ={},
        endpoint=f"http://127.0.0.1:{free_port()}",
        fleet_refresh_seconds=0.01,
    )
    await service.initialize()
    service.set_printer_service(PrinterService([Printer("octoprint")]))
    assert await service.submit_stats() is True  # sharing off: nothing to do
    await service.opt_in()  # the first report is due at once and cannot be delivered
    assert await service.submit_stats() is False
    assert await service.repository.get_setting("last_submission_date") is None
    assert (await service.get_local_stats()).last_submission is None
    assert (await service.opt_out()).success
    assert await service.submit_stats() is True
    assert await service.delete_all_stats() is True
    await service.shutdown()


async def test_client_keeps_only_plain_metadata() -> None:
    client = UsageStatsClient("http://127.0.0.1:9")
    many = {f"k{i}": i for i in range(40)} | {1: "not a str key", "nan": float("nan")}
    assert client.record("app_start", many)
    assert client.record("app_start", ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert client.record("x" * 65, {}) is False
    queued = list(client._queue)
    assert len(queued[0]["metadata"]) == 32 and "nan" not in queued[0]["metadata"]
    assert "metadata" not in queued[1]
    await client.stop(drain_timeout=0.1)
