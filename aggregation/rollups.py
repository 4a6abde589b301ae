"""Turns a submission into rollup contributions, and small calendar/version helpers."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta

from printernizer_usage_core.models import AggregatedStats

from .storage.base import Contribution

# Dimensions kept in the rollups (see docs/AGGREGATION.md, "How stats are computed").
ALL = "all"
MODE = "mode"
VERSION = "version"
COUNTRY = "country"
PLATFORM = "platform"
PYTHON = "python"
PRINTER_TYPE = "printer_type"
FLEET_SIZE = "fleet_size"
PRINTERS = "printers"
FEATURE = "feature"
ERROR = "error"
USAGE = "usage"
SCHEMA = "schema"
# Dimensions where one installation can be in several buckets: a folded "other" bucket must
# count the installations behind it, not add the buckets up (storage keeps a key table).
MULTI_VALUED = (PRINTER_TYPE, FEATURE, ERROR)

USAGE_FIELDS = (
    "job_count",
    "file_count",
    "upload_count",
    "uptime_hours",
    "jobs_created",
    "jobs_completed",
    "jobs_failed",
    "printer_connections",
    "app_starts",
)
FLEET_BUCKETS = ((0, "0"), (1, "1"), (3, "2-3"), (10, "4-10"), (25, "11-25"))
# (fewest printers, most printers or None for no limit, label) of every fleet-size bucket.
FLEET_RANGES: tuple[tuple[int, int | None, str], ...] = (
    (0, 0, "0"),
    (1, 1, "1"),
    (2, 3, "2-3"),
    (4, 10, "4-10"),
    (11, 25, "11-25"),
    (26, None, "26+"),
)


def fleet_bucket(count: int) -> str:
    """A coarse fleet-size label."""
    for limit, label in FLEET_BUCKETS:
        if count <= limit:
            return label
    return "26+"


def contributions(stats: AggregatedStats) -> tuple[Contribution, ...]:
    """The rollup rows one submission adds: (dimension, key, installations, total).

    `installations` counts reporting installations; `total` carries a sum (errors, printers,
    usage counts) or, for features, whether the feature is enabled.
    """
    inst = stats.installation
    fleet = stats.printer_fleet
    usage = stats.usage_stats
    python = ".".join(inst.python_version.split(".")[:2])
    rows: list[Contribution] = [
        (ALL, "", 1, 0),
        (MODE, inst.deployment_mode.value, 1, 0),
        (VERSION, inst.app_version, 1, 0),
        (COUNTRY, inst.country_code, 1, 0),
        (PLATFORM, inst.platform, 1, 0),
        (PYTHON, python, 1, 0),
        (SCHEMA, stats.consent_version if stats.consent_version == "1.0" else "2.0", 1, 0),
        (FLEET_SIZE, fleet_bucket(fleet.printer_count), 1, 0),
        (PRINTERS, "", 1, fleet.printer_count),
    ]
    type_counts = dict(fleet.printer_type_counts)
    for ptype in fleet.printer_types:
        type_counts.setdefault(ptype, 0)
    for ptype, count in sorted(type_counts.items()):
        rows.append((PRINTER_TYPE, ptype.value, 1, count))
    for name, enabled in sorted(usage.feature_usage.items()):
        rows.append((FEATURE, name, 1, int(enabled)))
    for name, count in sorted(stats.error_summary.items()):
        # An error type counts only where it actually happened.
        if count > 0:
            rows.append((ERROR, name, 1, count))
    for name in USAGE_FIELDS:
        rows.append((USAGE, name, 1, int(getattr(usage, name))))
    return tuple(rows)


def day_number(value: date | datetime) -> int:
    """Ordinal of a UTC day (the storage form of days)."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.toordinal()


_EPOCH_DAY = date(1970, 1, 1).toordinal()


def today(now: datetime | None = None) -> int:
    """Ordinal of today (UTC)."""
    if now is None:  # every submission asks: plain arithmetic on the clock is enough
        return int(time.time() // 86400) + _EPOCH_DAY
    return day_number(now)


def week_of(day: int) -> int:
    """Ordinal of the Monday of the ISO week containing `day`."""
    return day - date.fromordinal(day).weekday()


def period_week(period_end_day: int) -> int:
    """The week a report belongs to: the week of its last day."""
    return week_of(period_end_day - 1)


def iso_day(day: int) -> str:
    """YYYY-MM-DD of a day ordinal."""
    return date.fromordinal(day).isoformat()


def hour_number(now: datetime | None = None) -> int:
    """Whole hours since the epoch (the rate-limit window)."""
    moment = now or datetime.now(UTC)
    return int(moment.timestamp() // 3600)


def seconds_to_next_hour(now: datetime | None = None) -> int:
    """Seconds until the current rate-limit window ends (at least 1)."""
    moment = now or datetime.now(UTC)
    nxt = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return max(1, int((nxt - moment).total_seconds()))


_VERSION_PART = re.compile(r"(\d+)|([A-Za-z]+)")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key so that 2.10.0 > 2.9.1 and 2.1.0 > 2.1.0rc1 > 2.1.0b2."""
    main, _, _local = version.partition("+")
    parts: list[tuple[int, int | str]] = []
    for number, word in _VERSION_PART.findall(main):
        if number:
            parts.append((2, int(number)))
        else:
            parts.append((0, word.lower()))  # pre-release tags sort below a bare release
    parts.append((1, 0))  # a release ends here; "rc1" after the numbers ranks below this
    return tuple(parts)
