"""Builders of valid wire payloads for the aggregation tests (made with the core models)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from printernizer_usage_core.models import (
    AggregatedStats,
    InstallationInfo,
    PrinterFleetStats,
    PrinterType,
    TimePeriod,
    UsageStats,
    submission_id_for,
)


def last_week(weeks_ago: int = 0, today: date | None = None) -> TimePeriod:
    """The 7-day period ending today (or `weeks_ago` weeks earlier)."""
    end = (today or datetime.now(UTC).date()) - timedelta(days=7 * weeks_ago)
    return TimePeriod.from_days(end - timedelta(days=7), end)


def secret_hash(secret: str) -> str:
    """sha256 hex, as clients send it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def make_stats(
    installation_id: uuid.UUID | None = None,
    *,
    period: TimePeriod | None = None,
    weeks_ago: int = 0,
    app_version: str = "2.1.0",
    mode: str = "docker",
    country: str = "DE",
    printers: dict[PrinterType, int] | None = None,
    features: dict[str, bool] | None = None,
    errors: dict[str, int] | None = None,
    secret: str | None = None,
    job_count: int = 3,
) -> AggregatedStats:
    """A valid schema 2.0 report."""
    iid = installation_id or uuid.uuid4()
    period = period or last_week(weeks_ago)
    return AggregatedStats(
        submission_id=submission_id_for(iid, period),
        consent_version="2026-11",
        installation=InstallationInfo(
            installation_id=iid,
            first_seen=period.start - timedelta(days=30),
            app_version=app_version,
            python_version="3.12.4",
            platform="linux",
            deployment_mode=mode,  # type: ignore[arg-type]
            country_code=country,
        ),
        period=period,
        printer_fleet=PrinterFleetStats.from_counts(
            printers if printers is not None else {PrinterType.BAMBU_LAB: 2}
        ),
        usage_stats=UsageStats(
            job_count=job_count,
            feature_usage=features if features is not None else {"auto_job_creation": True},
        ),
        error_summary=errors or {},
        deletion_key_hash=secret_hash(secret) if secret else None,
    )


def payload(**kwargs: Any) -> dict[str, Any]:
    """A decoded JSON body of a valid 2.0 report."""
    result: dict[str, Any] = json.loads(make_stats(**kwargs).to_json())
    return result


def legacy_payload(installation_id: uuid.UUID | None = None, weeks_ago: int = 0) -> dict[str, Any]:
    """What Printernizer 1.0 sends: schema "1.0", naive datetimes, float uptime."""
    period = last_week(weeks_ago)
    start = period.start.replace(tzinfo=None)
    end = period.end.replace(tzinfo=None)
    return {
        "schema_version": "1.0",
        "submission_timestamp": (end + timedelta(hours=3, minutes=12, seconds=5)).isoformat(),
        "installation": {
            "installation_id": str(installation_id or uuid.uuid4()),
            "first_seen": (start - timedelta(days=90)).isoformat(),
            "app_version": "1.9.2",
            "python_version": "3.11.9",
            "platform": "linux",
            "deployment_mode": "homeassistant",
            "country_code": "AT",
        },
        "period": {"start": start.isoformat(), "end": end.isoformat(), "duration_days": 7},
        "printer_fleet": {
            "printer_count": 1,
            "printer_types": ["prusa_core"],
            "printer_type_counts": {"prusa_core": 1},
        },
        "usage_stats": {
            "job_count": 4,
            "file_count": 2,
            "upload_count": 1,
            "uptime_hours": 151.5,
            "feature_usage": {"library": True},
        },
        "error_summary": {"TimeoutError": 1},
    }
