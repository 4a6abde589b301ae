"""The service API the fronts call: consent, preview, local view, export, delete."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from printernizer_usage_core.models import (
    CONSENT_VERSION,
    UNKNOWN_VERSION,
    AggregatedStats,
    DeploymentMode,
)
from printernizer_usage_core.service import UsageStatsService, deletion_key_hash


async def test_opt_in_is_off_by_default(service: UsageStatsService) -> None:
    settings = await service.get_settings()
    assert settings.opted_in is False
    assert settings.installation_id is None
    assert not await service.is_opted_in()


async def test_preview_before_opt_in_shows_the_id_opting_in_adopts(
    service: UsageStatsService,
) -> None:
    preview = AggregatedStats.model_validate_json(await service.preview())
    settings = await service.opt_in(endpoint="https://stats.example")
    assert settings.installation_id == preview.installation.installation_id
    assert settings.consent_version == CONSENT_VERSION
    assert settings.consented_at == datetime(2026, 3, 18, tzinfo=UTC)
    assert settings.endpoint == "https://stats.example"
    assert await service.period_anchor() == date(2026, 3, 18)
    assert await service.is_opted_in()
    secret = await service.deletion_secret()
    assert secret and len(secret) >= 32
    payload = AggregatedStats.model_validate_json(await service.preview())
    assert payload.deletion_key_hash == deletion_key_hash(secret)
    assert secret not in await service.preview()


async def test_opting_in_twice_keeps_identity_and_anchor(service: UsageStatsService, clock) -> None:
    first = await service.opt_in()
    clock.advance(days=3)
    second = await service.opt_in(consent_version="2027-01")
    assert first.installation_id == second.installation_id
    assert second.consent_version == "2027-01"
    assert await service.period_anchor() == date(2026, 3, 18)


async def test_do_not_track_wins_over_the_setting(make_service) -> None:
    service = await make_service(environ={"DO_NOT_TRACK": "1"})
    settings = await service.opt_in()
    assert settings.opted_in and settings.blocked_by_environment
    assert not settings.sharing
    assert not await service.is_opted_in()
    await service.stop()
    service = await make_service(environ={"PRINTERNIZER_USAGE_DISABLED": "true"})
    assert service.blocked_by_environment


async def test_opt_out_stops_sharing_and_empties_the_outbox(service: UsageStatsService) -> None:
    await service.opt_in()
    await service.store.outbox_put("2026-03-11", "2026-03-18", "x", "{}")
    settings = await service.opt_out()
    assert not settings.opted_in
    assert settings.installation_id is not None
    assert await service.store.outbox_entries() == []
    assert await service.period_anchor() is None
    await service.forget_identity()
    assert (await service.get_settings()).installation_id is None
    assert await service.deletion_secret() is None


async def test_delete_all_forgets_the_installation(service: UsageStatsService) -> None:
    old = (await service.opt_in()).installation_id
    service.record_event("job_created")
    await service.set_features({"auto_download": True})
    await service.delete_all()
    assert (await service.get_settings()).installation_id is None
    assert (await service.store.count_events())[0] == 0
    new = (await service.opt_in()).installation_id
    assert new != old
    payload = AggregatedStats.model_validate_json(await service.preview())
    assert payload.usage_stats.feature_usage == {}


async def test_preview_is_the_queued_payload_when_one_waits(service: UsageStatsService) -> None:
    await service.opt_in()
    await service.store.outbox_put("2026-03-11", "2026-03-18", "x", '{"exact": "bytes"}')
    assert await service.preview() == '{"exact": "bytes"}'


async def test_local_stats_show_this_week_and_a_daily_history(
    service: UsageStatsService, clock
) -> None:
    service.record_event("job_completed", {"printer_type": "bambu_lab"})
    service.record_event("error_occurred", {"error": "KeyError"})
    clock.advance(days=1)
    service.record_event("job_failed", {"error": "TimeoutError"})
    service.record_event("not_allowed", {"x": 1})
    await service.set_printer_fleet({"bambu_lab": 2})
    stats = await service.local_stats(days=3)
    assert stats.usage_stats.jobs_completed == 1
    assert stats.usage_stats.jobs_failed == 1
    assert stats.error_summary == {"KeyError": 1}
    assert stats.printer_fleet.printer_count == 2
    assert [d.total for d in stats.daily] == [0, 2, 1]
    assert stats.daily[1].by_type == {"job_completed": 1, "error_occurred": 1}
    assert stats.total_events == 3
    assert stats.events_rejected == 1
    assert stats.installation is None
    await service.opt_in()
    assert (await service.local_stats()).installation is not None


async def test_features_follow_enable_and_disable_events(service: UsageStatsService) -> None:
    service.record_event("feature_enabled", {"feature": "auto_download"})
    service.record_event("feature_enabled", {"feature": "timelapse"})
    service.record_event("feature_disabled", {"feature": "timelapse"})
    service.record_event("feature_enabled", {"feature": "Alice's idea"})
    await service.flush()
    payload = AggregatedStats.model_validate_json(await service.preview())
    assert payload.usage_stats.feature_usage == {"auto_download": True, "timelapse": False}
    assert await service.set_features({"camera": True, "bad key": True}) == {
        "auto_download": True,
        "timelapse": False,
        "camera": True,
    }


async def test_features_and_uptime_survive_a_restart(make_service, tmp_path) -> None:
    service = await make_service(maintenance_interval=0.01)
    service.record_event("feature_enabled", {"feature": "auto_download"})
    service._uptime_mark -= 7200  # two hours of running, without waiting two hours
    await service.stop()
    again = await make_service()
    assert (await again.get_printer_fleet()) == {}
    payload = await again.aggregate(await again.next_period())
    assert payload.usage_stats.feature_usage == {"auto_download": True}
    stats = await again.local_stats()
    assert stats.usage_stats.uptime_hours == 2


async def test_export_holds_everything_and_the_next_payload(service: UsageStatsService) -> None:
    await service.opt_in()
    service.record_event("job_created")
    export = await service.export()
    assert export["settings"]["opted_in"] is True
    assert len(export["tables"]["usage_events"]) == 1
    assert json.loads(export["next_payload"])["schema_version"] == "2.0"
    json.dumps(export)


async def test_retention_prunes_raw_events(service: UsageStatsService, clock) -> None:
    service.record_event("job_created")
    await service.flush()
    await service.set_retention_days(30)
    clock.advance(days=31)
    assert await service.prune() == (1, 0)
    with pytest.raises(ValueError):
        await service.set_retention_days(0)


async def test_listeners_hear_changes(service: UsageStatsService) -> None:
    calls: list[int] = []
    remove = service.add_listener(lambda: calls.append(1))

    def broken() -> None:
        raise RuntimeError("bad listener")

    service.add_listener(broken)
    await service.opt_in()
    service.record_event("job_created")
    await service.flush()
    remove()
    await service.opt_out()
    assert len(calls) == 2


async def test_environment_is_read_at_start(make_service) -> None:
    service = UsageStatsService("unused.db", app_version="1.0.0")
    with pytest.raises(RuntimeError, match="start"):
        _ = service.environment
    started = await make_service(deployment_mode=DeploymentMode.PI, time_zone="America/Sao_Paulo")
    assert started.environment.deployment_mode is DeploymentMode.PI
    assert started.environment.country_code == "BR"
    await started.set_endpoint("https://a.example")
    assert (await started.get_settings()).endpoint == "https://a.example"
    assert uuid.UUID(str((await started.opt_in()).installation_id)).version == 4


async def test_preview_before_opt_in_is_the_first_report_sent(service: UsageStatsService) -> None:
    from printernizer_usage_core.schedule import first_period

    service.record_event("job_created")
    before = await service.preview()
    await service.opt_in()
    first_report = await service.aggregate(first_period(await service.period_anchor()))
    assert before == first_report.to_json()


async def test_prune_forgets_old_delivered_reports_only(service: UsageStatsService, clock) -> None:
    await service.store.outbox_put("2026-01-01", "2026-01-08", "a", "{}")
    await service.store.outbox_put("2026-01-08", "2026-01-15", "b", "{}")
    await service.store.outbox_update(
        "2026-01-01", status="sent", attempts=1, sent_at=int(clock.now.timestamp())
    )
    clock.advance(days=91)
    await service.prune()
    assert [e.submission_id for e in await service.store.outbox_entries()] == ["b"]


async def test_reads_before_opt_in_write_no_identity(service: UsageStatsService) -> None:
    service.record_event("job_created", {"printer_type": "bambu_lab"})
    await service.flush()
    before = await service.store.get_settings()
    preview = AggregatedStats.model_validate_json(await service.preview())
    await service.local_stats()
    export = await service.export()
    assert await service.store.get_settings() == before
    assert "deletion_secret" not in before and "candidate_installation_id" not in before
    assert export["settings"]["installation_id"] is None
    # The same candidate every time, and opting in adopts it with the hash the preview showed.
    again = AggregatedStats.model_validate_json(await service.preview())
    assert again.installation.installation_id == preview.installation.installation_id
    settings = await service.opt_in()
    assert settings.installation_id == preview.installation.installation_id
    assert deletion_key_hash(await service.deletion_secret() or "") == preview.deletion_key_hash


async def test_after_delete_all_a_preview_writes_nothing_and_shows_a_new_candidate(
    service: UsageStatsService,
) -> None:
    old = (await service.opt_in()).installation_id
    await service.delete_all()
    preview = AggregatedStats.model_validate_json(await service.preview())
    await service.local_stats()
    assert await service.store.get_settings() == {}
    assert preview.installation.installation_id != old
    assert (await service.opt_in()).installation_id == preview.installation.installation_id


async def test_a_candidate_written_by_an_older_version_is_adopted(
    service: UsageStatsService,
) -> None:
    legacy = str(uuid.uuid4())
    await service.store.set_settings(
        {"candidate_installation_id": legacy, "deletion_secret": "s" * 43}
    )
    preview = AggregatedStats.model_validate_json(await service.preview())
    assert str(preview.installation.installation_id) == legacy
    settings = await service.opt_in()
    assert str(settings.installation_id) == legacy
    assert await service.store.get_setting("candidate_installation_id") is None
    assert await service.deletion_secret() == "s" * 43


async def test_preview_without_store_touches_no_file_and_opt_in_adopts_its_id(
    tmp_path, clock, make_service
) -> None:
    db_path = tmp_path / "later" / "usage.db"
    text = await UsageStatsService(
        db_path, app_version=UNKNOWN_VERSION, time_zone="Europe/Berlin", environ={}, clock=clock
    ).preview_without_store()
    assert list(tmp_path.iterdir()) == []
    payload = AggregatedStats.model_validate_json(text)
    assert payload.installation.app_version == UNKNOWN_VERSION
    assert payload.installation.country_code == "DE"
    # The user agreed: the installation on that file adopts the id and hash they saw.
    service = await make_service(path=db_path)
    settings = await service.opt_in()
    assert settings.installation_id == payload.installation.installation_id
    assert deletion_key_hash(await service.deletion_secret() or "") == payload.deletion_key_hash


async def test_a_fleet_no_report_could_carry_is_refused(service: UsageStatsService) -> None:
    await service.set_printer_fleet({"bambu_lab": 3})
    with pytest.raises(ValueError, match="at most 1000"):
        await service.set_printer_fleet({"bambu_lab": 600, "klipper": 600})
    assert await service.get_printer_fleet() == {"bambu_lab": 3}
    AggregatedStats.model_validate_json(await service.preview())


async def test_running_time_before_delete_all_is_not_written_back(
    service: UsageStatsService,
) -> None:
    service._uptime_mark -= 3600  # an hour of running time not yet accounted
    await service.delete_all()
    await service.account_uptime()
    assert (await service.store.dump())["usage_aggregates"] == []


async def test_recording_never_raises_even_for_a_hostile_str_subclass(
    service: UsageStatsService,
) -> None:
    class Tricky(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            if other == "feature_enabled":
                raise RuntimeError("surprise")
            return str.__eq__(self, other)

    assert service.record_event(Tricky("app_start")) is True
    assert service.record_event(Tricky("feature_enabled"), {"feature": "auto_backup"}) in (
        True,
        False,
    )
