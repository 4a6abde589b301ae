"""Turn a period's daily rollups and the fleet/feature snapshot into the wire payload."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from .models import (
    MAX_COUNT,
    MAX_MAP_ENTRIES,
    AggregatedStats,
    InstallationInfo,
    PrinterFleetStats,
    PrinterType,
    TimePeriod,
    UsageStats,
    submission_id_for,
)
from .registry import (
    KNOWN_FEATURES,
    OTHER_ERROR,
    OTHER_EVENTS,
    is_error_type_name,
    is_event_type_name,
)
from .store import UPTIME_KEY

# The neutral error bucket (registry.OTHER_ERROR), under the name this module has exported.
OTHER_ERRORS = OTHER_ERROR


def _cap(value: int) -> int:
    return min(value, MAX_COUNT)


def top_counts(
    counts: Mapping[str, int], other: str, limit: int = MAX_MAP_ENTRIES
) -> dict[str, int]:
    """The `limit - 1` largest entries, the rest folded into `other` (keeps maps bounded)."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if len(ordered) <= limit:
        return {key: _cap(n) for key, n in ordered}
    kept = {key: _cap(n) for key, n in ordered[: limit - 1]}
    kept[other] = _cap(kept.get(other, 0) + sum(n for _, n in ordered[limit - 1 :]))
    return kept


def build_payload(
    *,
    totals: Iterable[tuple[str, str, int]],
    period: TimePeriod,
    installation: InstallationInfo,
    consent_version: str,
    fleet: Mapping[PrinterType, int],
    features: Mapping[str, bool],
    deletion_key_hash: str | None = None,
) -> AggregatedStats:
    """The AggregatedStats for `period` from (event_type, dimension, count) rollup totals."""
    events: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    uptime_seconds = 0
    for event_type, dimension, count in totals:
        if event_type == UPTIME_KEY:
            uptime_seconds += count
        elif not dimension:
            # Types no longer (or not yet) registered are counted, never named.
            events[event_type if is_event_type_name(event_type) else OTHER_EVENTS] += count
        elif event_type == "error_occurred":
            # Names stored under an older, looser rule travel as the neutral bucket.
            errors[dimension if is_error_type_name(dimension) else OTHER_ERROR] += count
    # Every error counts: those recorded without a class (before the guard filled in the
    # bucket) are the events not accounted for by a named error.
    unnamed = events["error_occurred"] - sum(errors.values())
    if unnamed > 0:
        errors[OTHER_ERROR] += unnamed
    completed, failed = events["job_completed"], events["job_failed"]
    usage = UsageStats(
        job_count=_cap(completed + failed),
        file_count=_cap(events["file_downloaded"]),
        upload_count=_cap(events["file_uploaded"]),
        uptime_hours=min(round(uptime_seconds / 3600), period.duration_days * 24),
        feature_usage=dict(
            sorted((k, v) for k, v in features.items() if k in KNOWN_FEATURES)[:MAX_MAP_ENTRIES]
        ),
        jobs_created=_cap(events["job_created"]),
        jobs_completed=_cap(completed),
        jobs_failed=_cap(failed),
        printer_connections=_cap(events["printer_connected"]),
        app_starts=_cap(events["app_start"]),
    )
    return AggregatedStats(
        submission_id=submission_id_for(installation.installation_id, period),
        consent_version=consent_version,
        installation=installation,
        period=period,
        printer_fleet=PrinterFleetStats.from_counts(dict(fleet)),
        usage_stats=usage,
        error_summary=top_counts(errors, OTHER_ERROR),
        event_counts=top_counts({k: n for k, n in events.items() if n > 0}, OTHER_EVENTS),
        deletion_key_hash=deletion_key_hash,
    )
