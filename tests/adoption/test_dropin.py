"""The drop-in class with Printernizer's call sites replayed and its return shapes checked."""

from __future__ import annotations

import json
import uuid
from enum import Enum
from pathlib import Path

import pytest
from printernizer_usage_core.models import AggregatedStats as WireStats
from printernizer_usage_core.models import parse_submission
from printernizer_usage_core.printernizer import DB_FILE_NAME, UsageStatisticsService

from . import upstream_shapes as shapes
from .call_sites import CALL_SITES, CallSite
from .conftest import Database, Printer, PrinterService


@pytest.mark.parametrize("site", CALL_SITES, ids=lambda s: s.where)
async def test_call_site_replayed(dropin: UsageStatisticsService, site: CallSite) -> None:
    result = await dropin.record_event(site.event_type, site.metadata)
    await dropin.core.flush()
    stored = await dropin.core.store.get_events()
    if site.kept is None:
        assert result is None, site.why
        assert stored == []
        return
    assert result is not None, site.why
    shapes.UsageEvent.model_validate_json(result.model_dump_json())
    assert result.event_type == site.event_type
    assert [(e.event_type, e.metadata) for e in stored] == [(site.event_type, site.kept)], site.why


async def test_record_event_never_raises_and_never_waits(dropin: UsageStatisticsService) -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    assert await dropin.record_event(Hostile(), {"x": Hostile()}) is None  # type: ignore[arg-type]
    assert await dropin.record_event("job_failed", Hostile()) is not None  # type: ignore[arg-type]
    for _ in range(2_000):
        await dropin.record_event("job_completed", {"duration_minutes": 30})
    # Nothing was written yet: recording only queues (the disk is the recorder's business).
    assert dropin.core.recorder.pending >= 2_000


async def test_record_event_before_initialize_is_harmless(tmp_path: Path) -> None:
    service = UsageStatisticsService(Database(tmp_path / "p.db"), app_version="2.7.0", submit=False)
    assert await service.record_event("app_start", {"app_version": "2.7.0"}) is not None
    await service.initialize()
    await service.core.flush()
    assert [e.event_type for e in await service.core.store.get_events()] == ["app_start"]
    await service.shutdown()


async def test_opt_in_out_shapes_and_installation_id(dropin: UsageStatisticsService) -> None:
    assert await dropin.is_opted_in() is False
    first = shapes.OptInResponse.model_validate_json((await dropin.opt_in()).model_dump_json())
    assert first.success and uuid.UUID(first.installation_id or "")
    assert await dropin.is_opted_in() is True
    again = await dropin.opt_in()
    assert again.installation_id == first.installation_id
    out = shapes.OptInResponse.model_validate_json((await dropin.opt_out()).model_dump_json())
    assert out.success and out.installation_id is None
    assert await dropin.is_opted_in() is False


async def test_do_not_track_vetoes_sharing(tmp_path: Path) -> None:
    service = UsageStatisticsService(
        Database(tmp_path / "p.db"),
        app_version="2.7.0",
        environ={"DO_NOT_TRACK": "1"},
        submit=False,
    )
    await service.initialize()
    await service.opt_in()
    assert await service.is_opted_in() is False
    assert (await service.get_local_stats()).opt_in_status == "disabled"
    await service.shutdown()


async def test_fleet_from_printer_service_counts_families_only(
    dropin: UsageStatisticsService,
) -> None:
    printers = PrinterService(
        [Printer("bambu_lab"), Printer("bambu_lab"), Printer("prusa"), Printer("makerbot")]
    )
    dropin.set_printer_service(printers)
    stats = await dropin.aggregate_stats()
    assert stats is not None
    fleet = stats.printer_fleet
    assert fleet.printer_count == 4
    assert {str(k): v for k, v in fleet.printer_type_counts.items()} == {
        "bambu_lab": 2,
        "prusa_core": 1,
        "unknown": 1,
    }
    text = stats.model_dump_json()
    for secret in ("Alice", "192.168.1.23", "01P00A123456789", "makerbot"):
        assert secret not in text


async def test_aggregate_stats_is_upstreams_schema_and_our_servers(
    dropin: UsageStatisticsService,
) -> None:
    for site in CALL_SITES:
        await dropin.record_event(site.event_type, site.metadata)
    stats = await dropin.aggregate_stats()
    assert stats is not None
    upstream = shapes.AggregatedStats.model_validate_json(stats.model_dump_json())
    assert upstream.schema_version == "1.0"
    assert upstream.period.duration_days == 8  # seven days back from now, whole UTC days
    assert upstream.usage_stats.job_count == 3  # two completed, one failed
    assert upstream.usage_stats.file_count == 1 and upstream.usage_stats.upload_count == 1
    # The very payload parses as a schema 1.0 submission on our aggregation server.
    assert isinstance(parse_submission(json.loads(stats.model_dump_json())), WireStats)
    assert (
        await dropin.aggregate_stats(
            stats.period.start, stats.period.start.replace(year=stats.period.start.year + 1)
        )
        is None
    )  # longer than a report period: refused like upstream's failures, never raised


async def test_local_stats_export_delete_shapes(dropin: UsageStatisticsService) -> None:
    empty = shapes.LocalStatsResponse.model_validate_json(
        (await dropin.get_local_stats()).model_dump_json()
    )
    assert empty.installation_id == "not_generated" and empty.total_events == 0
    await dropin.opt_in()
    for site in CALL_SITES:
        await dropin.record_event(site.event_type, site.metadata)
    local = shapes.LocalStatsResponse.model_validate_json(
        (await dropin.get_local_stats()).model_dump_json()
    )
    assert local.opt_in_status == "enabled"
    assert local.total_events == sum(1 for s in CALL_SITES if s.kept is not None)
    assert set(local.this_week) == shapes.THIS_WEEK_KEYS
    assert local.this_week == {"job_count": 3, "file_count": 1, "error_count": 2}
    assert local.first_seen is not None and local.last_submission is None

    exported = shapes.ExportDocument.model_validate_json(await dropin.export_stats())
    assert len(exported.events) == local.total_events
    assert exported.export_version == "1.0"

    assert await dropin.repository.get_total_event_count() == local.total_events
    assert await dropin.delete_all_stats() is True
    after = await dropin.get_local_stats()
    assert after.total_events == 0 and after.installation_id == "not_generated"
    assert await dropin.is_opted_in() is False


async def test_repository_view_answers_printernizers_scheduler(
    dropin: UsageStatisticsService,
) -> None:
    repo = dropin.repository
    assert await repo.get_setting("opt_in_status") == "disabled"
    assert await repo.get_setting("installation_id") is None
    assert await repo.get_setting("last_submission_date") is None
    await dropin.opt_in()
    assert await repo.get_setting("opt_in_status") == "enabled"
    assert uuid.UUID(await repo.get_setting("installation_id") or "")
    first_run = await repo.get_setting("first_run_date")
    assert first_run is not None and first_run.endswith("T00:00:00")  # naive UTC, day only
    assert await repo.get_setting("anything_else") is None


async def test_submit_stats_when_off_or_without_sender(dropin: UsageStatisticsService) -> None:
    assert await dropin.submit_stats() is True  # opted out: nothing to do, as upstream
    await dropin.opt_in()
    assert await dropin.submit_stats() is True  # submit=False: nothing goes out


async def test_construction_needs_a_place_for_the_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="db_path"):
        UsageStatisticsService()
    shared = tmp_path / "printernizer.db"
    with pytest.raises(ValueError, match="its own file"):
        UsageStatisticsService(Database(shared), db_path=shared)


async def test_store_is_a_separate_file_beside_printernizers(tmp_path: Path) -> None:
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"), app_version="2.7.0", submit=False
    )
    await service.initialize()
    await service.record_event("app_start")
    await service.shutdown()
    assert (tmp_path / DB_FILE_NAME).is_file()
    assert not (tmp_path / "printernizer.db").exists()  # Printernizer's file is not touched


async def test_printernizers_own_event_type_enum(dropin: UsageStatisticsService) -> None:
    class EventType(str, Enum):  # noqa: UP042 - exactly as Printernizer defines it
        JOB_COMPLETED = "job_completed"
        PRINTER_CONNECTED = "printer_connected"

    assert await dropin.record_event(EventType.JOB_COMPLETED, {"duration_minutes": 3}) is not None
    assert await dropin.record_event(EventType.PRINTER_CONNECTED, {"printer_type": "prusa"})
    await dropin.core.flush()
    stored = sorted((e.event_type, e.metadata) for e in await dropin.core.store.get_events())
    assert stored == [
        ("job_completed", {"duration": "1-5m"}),
        ("printer_connected", {"printer_type": "prusa_core"}),
    ]
    assert all(type(e.event_type) is str for e in await dropin.core.store.get_events())


async def test_feature_switches_as_upstream_reported_them(tmp_path: Path) -> None:
    settings = {"library_enabled": True, "timelapse_enabled": False}
    service = UsageStatisticsService(
        Database(tmp_path / "printernizer.db"),
        app_version="2.7.0",
        environ={},
        submit=False,
        feature_flags=lambda: {**settings, "Alice's secret switch": True},
    )
    await service.initialize()
    stats = await service.aggregate_stats()
    assert stats is not None
    # Upstream's setting names become our feature names; every name passes the guard.
    assert stats.usage_stats.feature_usage == {"library": True, "timelapse": False}
    settings["timelapse_enabled"] = True  # a later report reads the switches again
    stats = await service.aggregate_stats()
    assert stats is not None and stats.usage_stats.feature_usage["timelapse"] is True
    await service.record_event("feature_disabled", {"feature": "library_enabled"})
    await service.core.flush()
    assert (await service.core.store.get_events())[0].metadata == {"feature": "library"}
    await service.shutdown()
