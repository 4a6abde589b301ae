"""The wire schema: strict, bounded, day-rounded, and compatible with Printernizer 1.0."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from printernizer_usage_core.models import (
    AggregatedStats,
    InstallationInfo,
    PrinterFleetStats,
    PrinterType,
    TimePeriod,
    UsageStats,
    parse_submission,
    round_to_day,
    submission_id_for,
)
from pydantic import ValidationError

INSTALLATION = {
    "installation_id": "0b8e2a52-5b7e-4c43-9d2c-2a7a3f0b7f11",
    "first_seen": "2026-01-03T17:22:11",
    "app_version": "2.4.0",
    "python_version": "3.12.4",
    "platform": "linux",
    "deployment_mode": "docker",
    "country_code": "DE",
}


def legacy_payload(**overrides) -> dict:
    payload = {
        "schema_version": "1.0",
        "submission_timestamp": "2026-03-09T03:04:05.123456",
        "installation": dict(INSTALLATION),
        "period": {
            "start": "2026-03-02T00:00:00",
            "end": "2026-03-09T00:00:00",
            "duration_days": 7,
        },
        "printer_fleet": {
            "printer_count": 3,
            "printer_types": ["bambu_lab", "prusa_core"],
            "printer_type_counts": {"bambu_lab": 2, "prusa_core": 1},
        },
        "usage_stats": {
            "job_count": 12,
            "file_count": 4,
            "upload_count": 1,
            "uptime_hours": 150.6,
            "feature_usage": {"auto_download": True},
        },
        "error_summary": {"ConnectionError": 2},
    }
    payload.update(overrides)
    return payload


def current_payload() -> dict:
    return parse_submission(legacy_payload()).model_dump(mode="json")


def test_legacy_payload_is_normalised_to_the_current_schema() -> None:
    stats = parse_submission(legacy_payload())
    assert stats.schema_version == "2.0"
    assert stats.installation.first_seen == datetime(2026, 1, 3, tzinfo=UTC)
    assert stats.period.start == datetime(2026, 3, 2, tzinfo=UTC)
    assert stats.usage_stats.uptime_hours == 151
    assert stats.printer_fleet.printer_type_counts == {
        PrinterType.BAMBU_LAB: 2,
        PrinterType.PRUSA_CORE: 1,
    }
    assert stats.submission_id == submission_id_for(
        stats.installation.installation_id, stats.period
    )
    assert stats.consent_version == "1.0"


def test_current_payload_round_trips_through_json() -> None:
    stats = parse_submission(current_payload())
    assert AggregatedStats.model_validate_json(stats.to_json()) == stats


def test_submission_id_is_deterministic_per_installation_and_period() -> None:
    period = TimePeriod.from_days(date(2026, 3, 2), date(2026, 3, 9))
    other = TimePeriod.from_days(date(2026, 3, 9), date(2026, 3, 16))
    one, two = uuid.uuid4(), uuid.uuid4()
    assert submission_id_for(one, period) == submission_id_for(one, period)
    assert submission_id_for(one, period) != submission_id_for(one, other)
    assert submission_id_for(one, period) != submission_id_for(two, period)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("usage_stats", "surprise"), 1, "surprise"),
        (("installation", "hostname"), "x", "hostname"),
        (("installation", "country_code"), "QQ", "country_code"),
        (("installation", "country_code"), "de", "country_code"),
        (("installation", "deployment_mode"), "kubernetes", "deployment_mode"),
        (("installation", "app_version"), "2.4.0 (build on alice's laptop)", "app_version"),
        # Fits the version pattern, but it is an address (hypothesis found it in the guard).
        (("installation", "app_version"), "192.168.1.23", "app_version"),
        (("installation", "platform"), "Linux-6.1-raspi", "platform"),
        (("installation", "installation_id"), "not-a-uuid", "installation_id"),
        (("printer_fleet", "printer_types"), ["bambu_lab", "my printer"], "printer_types"),
        (("usage_stats", "job_count"), -1, "job_count"),
        (("usage_stats", "job_count"), 10**9, "job_count"),
        (("usage_stats", "feature_usage"), {"Alice's feature": True}, "feature_usage"),
        (("error_summary",), {"ValueError: /home/alice": 1}, "error_summary"),
        (("period", "duration_days"), 6, "duration_days"),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(path, value, field) -> None:
    payload = current_payload()
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as err:
        parse_submission(payload)
    assert field in str(err.value)


def test_unknown_top_level_field_is_rejected() -> None:
    payload = current_payload()
    payload["ip_address"] = "10.0.0.1"
    with pytest.raises(ValidationError, match="ip_address"):
        parse_submission(payload)


def test_maps_are_bounded() -> None:
    payload = current_payload()
    payload["event_counts"] = {f"event_{i}": 1 for i in range(65)}
    with pytest.raises(ValidationError, match="event_counts"):
        parse_submission(payload)


def test_period_must_match_its_duration_and_is_day_rounded() -> None:
    period = TimePeriod(start="2026-03-02T13:14:15Z", end="2026-03-09T23:59:59Z", duration_days=7)
    assert period.start == datetime(2026, 3, 2, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 9, tzinfo=UTC)
    assert period.days()[0] == date(2026, 3, 2)
    assert len(period.days()) == 7
    with pytest.raises(ValidationError, match="spans 7 days"):
        TimePeriod(start="2026-03-02", end="2026-03-09", duration_days=5)


def test_round_to_day_converts_to_utc_first() -> None:
    from datetime import timedelta, timezone

    late_evening_in_new_york = datetime(2026, 3, 2, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert round_to_day(late_evening_in_new_york) == datetime(2026, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-03-02T00:00:00Z", date(2026, 3, 2)),  # the usual case: already midnight UTC
        ("2026-03-02T00:00:00+00:00", date(2026, 3, 2)),
        ("2026-03-02T00:00:00", date(2026, 3, 2)),  # naive (Printernizer 1.0): taken as UTC
        ("2026-03-02T00:00:00+01:00", date(2026, 3, 1)),  # midnight, but not in UTC
        ("2026-03-02T00:00:00.000001Z", date(2026, 3, 2)),
        ("2026-03-02T23:59:59-00:30", date(2026, 3, 3)),
    ],
)
def test_day_times_are_midnight_utc_with_one_tzinfo(value: str, day: date) -> None:
    period = TimePeriod.model_validate(
        {"start": value, "end": "2026-03-20T00:00:00Z", "duration_days": (20 - day.day)}
    )
    assert period.start == datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    assert period.start.tzinfo is UTC
    assert period.model_dump_json().startswith(f'{{"start":"{day.isoformat()}T00:00:00Z"')


def test_fleet_counts_must_add_up() -> None:
    assert PrinterFleetStats.from_counts(
        {PrinterType.OCTOPRINT: 2, PrinterType.BAMBU_LAB: 0}
    ).model_dump(mode="json") == {
        "printer_count": 2,
        "printer_types": ["octoprint"],
        "printer_type_counts": {"octoprint": 2},
    }
    with pytest.raises(ValidationError, match="add up"):
        PrinterFleetStats(printer_count=3, printer_type_counts={PrinterType.OCTOPRINT: 2})


def test_models_are_frozen() -> None:
    usage = UsageStats()
    with pytest.raises(ValidationError):
        usage.job_count = 3  # type: ignore[misc]
    assert InstallationInfo.model_config["extra"] == "forbid"


# --- issue 16: one format per field, ASCII numbers, real integers, bounded times -----------


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("consent_version",), "Bob", "consent_version"),
        (("consent_version",), "2026-13", "consent_version"),
        (("consent_version",), "2026-11\n", "consent_version"),
        (("installation", "app_version"), "\u0662.\u0661.\u0660", "app_version"),  # Arabic-Indic
        (("installation", "app_version"), "\uff12.\uff11.\uff10", "app_version"),  # full-width
        (("installation", "app_version"), "14.31.07", "app_version"),  # a time, not a release
        (("installation", "python_version"), "\u0663.\u0661\u0662", "python_version"),
        (("installation", "python_version"), "14.31.07", "python_version"),
        (("installation", "platform"), "alices_macbook_local", "platform"),
        (("installation", "first_seen"), "9999-12-31T23:59:59-23:59", "first_seen"),
        (("installation", "first_seen"), "1999-12-31T00:00:00Z", "first_seen"),
        (("period", "start"), "0001-01-01T00:00:00+23:59", "start"),
        (("usage_stats", "job_count"), True, "job_count"),
        (("usage_stats", "job_count"), "3", "job_count"),
        (("usage_stats", "job_count"), 3.0, "job_count"),
        (("usage_stats", "uptime_hours"), False, "uptime_hours"),
        (("usage_stats", "feature_usage"), {"auto_download": 1}, "feature_usage"),
        (("usage_stats", "feature_usage"), {"alices_macbook_local": True}, "feature_usage"),
        (("printer_fleet", "printer_count"), True, "printer_count"),
        (("period", "duration_days"), True, "duration_days"),
        (("error_summary",), {"Bob": 1}, "error_summary"),
        (("error_summary",), {"John": 1}, "error_summary"),
        (("error_summary",), {"click_count": 1}, "error_summary"),
        (("error_summary",), {"Ejohn_smith_example_com": 1}, "error_summary"),
        (("error_summary",), {"E192_168_1_5": 1}, "error_summary"),
        (("error_summary",), {"Error12345678Error": 1}, "error_summary"),
        (("error_summary",), {"ConnectionError": True}, "error_summary"),
        (("event_counts",), {"time_on_page": 1}, "event_counts"),
    ],
)
def test_issue_16_values_are_refused(path, value, field) -> None:
    test_invalid_values_are_rejected_naming_the_field(path, value, field)


def test_out_of_range_times_are_a_validation_error_not_an_overflow() -> None:
    payload = legacy_payload()
    payload["installation"]["first_seen"] = "9999-12-31T23:59:59-23:59"
    with pytest.raises(ValidationError, match="out of range"):
        parse_submission(payload)
    payload = legacy_payload()
    payload["period"]["start"] = "0001-01-01T00:00:00+23:59"
    with pytest.raises(ValidationError, match="out of range"):
        parse_submission(payload)


@pytest.mark.parametrize(
    ("errors", "accepted"),
    [
        ({"ConnectionError": 1, "MQTTDisconnectError": 2, "FTPError": 1}, True),
        ({"ClientConnectorError": 1, "ConnectTimeout": 1, "StopIteration": 1}, True),
        ({"OtherError": 4, "UserWarning": 1, "KeyboardInterrupt": 1}, True),
        ({"HTTP404Error": 1, "X509CertificateError": 1}, True),
        ({"error_perm": 1}, False),
        ({"Timeout": 1}, True),
        ({"ValueError_": 1}, False),
    ],
)
def test_error_names_are_exception_class_names(errors: dict[str, int], accepted: bool) -> None:
    payload = current_payload()
    payload["error_summary"] = errors
    if accepted:
        assert parse_submission(payload).error_summary == errors
    else:
        with pytest.raises(ValidationError, match="error_summary"):
            parse_submission(payload)


def test_unknown_version_and_schema_1_0_are_still_accepted() -> None:
    payload = legacy_payload()
    payload["installation"]["app_version"] = "unknown"
    stats = parse_submission(payload)
    assert stats.installation.app_version == "unknown"
    assert stats.consent_version == "1.0"
    current = stats.model_dump(mode="json")
    current["consent_version"] = "2026-11"
    assert parse_submission(current).consent_version == "2026-11"
