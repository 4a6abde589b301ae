"""Printernizer's response models as its code defines them: the oracle for shape tests.

Transcribed field by field (names, types, bounds) from schmacka/printernizer
src/models/usage_statistics.py and the response bodies its router tests assert
(tests/api/test_usage_statistics_api.py). Strict: a field of another type fails. Kept apart
from printernizer_usage_core.printernizer_compat on purpose, so the shapes we produce are
checked against Printernizer's definition and not against themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Upstream(BaseModel):
    # Printernizer's page only reads fields; extra ones (ours) are allowed beside them.
    model_config = ConfigDict(strict=True, extra="allow")


class UsageEvent(_Upstream):
    id: str
    event_type: str
    timestamp: datetime
    metadata: dict[str, Any] | None = None
    submitted: bool = False
    created_at: datetime


class InstallationInfo(_Upstream):
    installation_id: str = Field(min_length=36, max_length=36)
    first_seen: datetime
    app_version: str
    python_version: str
    platform: str
    deployment_mode: str
    country_code: str = Field(min_length=2, max_length=2)


class TimePeriod(_Upstream):
    start: datetime
    end: datetime
    duration_days: int = Field(ge=0)


class PrinterFleetStats(_Upstream):
    printer_count: int = Field(ge=0)
    printer_types: list[str]
    printer_type_counts: dict[str, int]


class UsageStats(_Upstream):
    job_count: int = Field(ge=0)
    file_count: int = Field(ge=0)
    upload_count: int = Field(ge=0)
    uptime_hours: int = Field(ge=0)
    feature_usage: dict[str, bool]


class AggregatedStats(_Upstream):
    schema_version: str
    submission_timestamp: datetime
    installation: InstallationInfo
    period: TimePeriod
    printer_fleet: PrinterFleetStats
    usage_stats: UsageStats
    error_summary: dict[str, int]


class LocalStatsResponse(_Upstream):
    installation_id: str
    first_seen: datetime | None
    opt_in_status: str
    total_events: int = Field(ge=0)
    this_week: dict[str, int]
    last_submission: datetime | None


class OptInResponse(_Upstream):
    success: bool
    installation_id: str | None = None
    message: str


class StatusResponse(_Upstream):
    service_available: bool
    opted_in: bool
    total_events: int
    collection_active: bool


class DeleteResponse(_Upstream):
    success: bool
    deleted_events: int
    message: str


class ExportDocument(_Upstream):
    events: list[Any]
    settings: dict[str, Any]
    exported_at: str
    export_version: str


# Printernizer's page reads these keys of this_week.
THIS_WEEK_KEYS = {"job_count", "file_count", "error_count"}
