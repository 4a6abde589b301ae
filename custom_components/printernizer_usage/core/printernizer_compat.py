"""Printernizer's own usage-statistics shapes, and the mapping from its call sites to our guard."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from typing import Any

from pydantic import BaseModel, Field

from .models import (
    MAX_PERIOD_DAYS,
    LegacyAggregatedStats,
    LegacyUsageStats,
    LocalStats,
    day_start,
)
from .models import AggregatedStats as WireStats

# The value Printernizer's LocalStatsResponse shows before an installation id exists.
NO_INSTALLATION_ID = "not_generated"
EXPORT_VERSION = "1.0"
OPTED_IN_MESSAGE = "Usage statistics enabled. Thank you for helping improve Printernizer!"
OPTED_OUT_MESSAGE = "Usage statistics disabled. Your data will remain local."
# Printernizer's printers table used "prusa" before it became "prusa_core".
_PRINTER_TYPE_ALIASES = {"prusa": "prusa_core"}
# Printernizer's first version named its feature switches after its settings.
_FEATURE_ALIASES = {
    "library_enabled": "library",
    "timelapse_enabled": "timelapse",
    "auto_job_creation_enabled": "auto_job_creation",
    "watch_folders_enabled": "watch_folders",
    "german_compliance_enabled": "german_compliance",
}
_MEBIBYTE = 1 << 20


class EventType(StrEnum):
    """The twelve event types Printernizer's service knows (all are in our allow-list)."""

    APP_START = "app_start"
    APP_SHUTDOWN = "app_shutdown"
    JOB_CREATED = "job_created"
    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"
    FILE_DOWNLOADED = "file_downloaded"
    FILE_UPLOADED = "file_uploaded"
    PRINTER_CONNECTED = "printer_connected"
    PRINTER_DISCONNECTED = "printer_disconnected"
    ERROR_OCCURRED = "error_occurred"
    FEATURE_ENABLED = "feature_enabled"
    FEATURE_DISABLED = "feature_disabled"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UsageEvent(BaseModel):
    """What Printernizer's `record_event` returns for an accepted event.

    `metadata` is None: what was kept of it is decided on the recorder's path, off the caller's.
    """

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    event_type: EventType
    timestamp: datetime = Field(default_factory=_utcnow)
    metadata: dict[str, Any] | None = None
    submitted: bool = False
    created_at: datetime = Field(default_factory=_utcnow)


class UsageStats(LegacyUsageStats):
    """Schema 1.0 usage block with whole uptime hours, as Printernizer's model types it."""

    uptime_hours: int = Field(default=0, ge=0, le=MAX_PERIOD_DAYS * 24)


class AggregatedStats(LegacyAggregatedStats):
    """Printernizer's report (schema 1.0): what `aggregate_stats` returns.

    It is our LegacyAggregatedStats (the server accepts it as is), typed as Printernizer types it.
    """

    usage_stats: UsageStats

    @classmethod
    def from_report(cls, report: WireStats, today: date) -> AggregatedStats:
        """The same numbers as our schema 2.0 report, in Printernizer's schema 1.0."""
        shared = set(cls.model_fields) - {"schema_version", "submission_timestamp", "usage_stats"}
        usage = report.usage_stats.model_dump(include=set(UsageStats.model_fields))
        return cls.model_validate(
            {name: getattr(report, name) for name in shared}
            | {"usage_stats": usage, "submission_timestamp": day_start(today)}
        )


class OptInResponse(BaseModel):
    """Answer of opt-in and opt-out, as Printernizer's page reads it."""

    success: bool
    installation_id: str | None = None
    message: str


class LocalStatsResponse(BaseModel):
    """Printernizer's local summary: id, first event, sharing state, counts of the last 7 days."""

    installation_id: str
    first_seen: datetime | None = None
    opt_in_status: str
    total_events: int = Field(default=0, ge=0)
    this_week: dict[str, int] = Field(default_factory=dict)
    last_submission: datetime | None = None


class StatusResponse(BaseModel):
    """Printernizer's GET /usage-stats/status."""

    service_available: bool
    opted_in: bool
    total_events: int = Field(ge=0)
    # Events are collected locally whenever the service runs, shared or not (as upstream).
    collection_active: bool


class DeleteResponse(BaseModel):
    """Printernizer's DELETE /usage-stats."""

    success: bool
    deleted_events: int = Field(ge=0)
    message: str


def this_week(stats: LocalStats) -> dict[str, int]:
    """Printernizer's three weekly counters from our seven-day local view."""
    usage = stats.usage_stats
    return {
        "job_count": usage.job_count,
        "file_count": usage.file_count,
        "error_count": stats.event_counts.get(EventType.ERROR_OCCURRED, 0),
    }


def local_stats_response(stats: LocalStats, last_submission: datetime | None) -> LocalStatsResponse:
    """Printernizer's LocalStatsResponse from our LocalStats (a 7-day window)."""
    settings = stats.settings
    return LocalStatsResponse(
        installation_id=str(settings.installation_id or NO_INSTALLATION_ID),
        first_seen=stats.oldest_event,
        opt_in_status="enabled" if settings.sharing else "disabled",
        total_events=stats.total_events,
        this_week=this_week(stats),
        last_submission=last_submission,
    )


def opt_in_response(installation_id: uuid.UUID | None, *, opted_in: bool) -> OptInResponse:
    """What Printernizer's opt-in / opt-out answer with."""
    if opted_in:
        return OptInResponse(
            success=True,
            installation_id=str(installation_id) if installation_id else None,
            message=OPTED_IN_MESSAGE,
        )
    return OptInResponse(success=True, message=OPTED_OUT_MESSAGE)


def export_document(export: Mapping[str, Any]) -> dict[str, Any]:
    """Our export with Printernizer's top-level keys added (events, settings, export_version)."""
    tables = export.get("tables") or {}
    document = dict(export)
    document.setdefault("events", list(tables.get("usage_events", [])))
    document.setdefault("export_version", EXPORT_VERSION)
    return document


def _printer_type(value: Any) -> Any:
    if isinstance(value, str):
        return _PRINTER_TYPE_ALIASES.get(value.strip().lower(), value)
    return getattr(value, "value", value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def translate_event(event_type: Any, metadata: Any) -> tuple[Any, Any]:
    """Printernizer's metadata keys renamed to the ones our guard checks; it still decides.

    Printernizer sends `duration_minutes`, `file_size_mb` and printer type "prusa"; our guard
    knows `duration_seconds`, `file_size_bytes` and "prusa_core". Nothing is added or widened:
    a renamed value is checked, bucketed or dropped by the privacy guard like any other.
    """
    if isinstance(event_type, Enum):  # ours, or Printernizer's own EventType
        event_type = event_type.value
    if not isinstance(metadata, Mapping):
        return event_type, metadata  # the guard drops what is not a mapping
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if key == "duration_minutes":
            minutes = _number(value)
            if minutes is not None:
                out.setdefault("duration_seconds", minutes * 60)
        elif key == "file_size_mb":
            size = _number(value)
            if size is not None:
                out.setdefault("file_size_bytes", size * _MEBIBYTE)
        elif key == "printer_type":
            out[key] = _printer_type(value)
        elif key == "feature":
            out[key] = feature_name(value)
        else:
            out[key] = value
    return event_type, out


def feature_name(name: Any) -> Any:
    """Our name for one of Printernizer's feature switches (others pass to the guard as given)."""
    return _FEATURE_ALIASES.get(name, name) if isinstance(name, str) else name


def rename_features(flags: Mapping[Any, Any]) -> dict[Any, Any]:
    """Printernizer's feature switches under our names; the guard still decides."""
    return {feature_name(key): value for key, value in flags.items()}


def fleet_counts(printers: Iterable[Any]) -> dict[str, int]:
    """Printer counts per family from Printernizer's printer objects (`.type` only is read)."""
    counts: dict[str, int] = {}
    for printer in printers:
        family = _printer_type(getattr(printer, "type", None))
        key = family if isinstance(family, str) else "unknown"
        counts[key] = counts.get(key, 0) + 1
    return counts
