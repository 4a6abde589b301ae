"""Wire schema and local models: the one definition every front and the server validate with."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from .countries import COUNTRY_CODES, UNKNOWN_COUNTRY
from .detectors import IPV4
from .registry import (
    CONSENT_VERSION_PATTERN,
    KNOWN_FEATURES,
    KNOWN_PLATFORMS,
    LEGACY_CONSENT_VERSION,
    is_consent_version,
    is_error_type_name,
    is_event_type_name,
)

SCHEMA_VERSION = "2.0"
LEGACY_SCHEMA_VERSION = "1.0"
# The earliest and the first refused day of any time on the wire: Printernizer's usage
# statistics did not exist before 2020, and a far-off time only overflows when converted.
MIN_DAY = date(2020, 1, 1)
END_DAY = date(2100, 1, 1)
# Bumped whenever the privacy policy changes what is collected; opt-in records it.
CONSENT_VERSION = "2026-11"

MAX_COUNT = 10_000_000
MAX_MAP_ENTRIES = 64
MAX_PRINTERS = 1_000
MAX_PERIOD_DAYS = 31

# Namespace for deterministic submission ids: the same (installation, period) always maps to
# the same id, so a retried or re-built payload is recognised by the server as a duplicate.
SUBMISSION_NAMESPACE = uuid.UUID("6f1c1d0e-3f64-4c55-9a57-3c1c2b1a9e10")


class DeploymentMode(StrEnum):
    """Where Printernizer runs."""

    HOMEASSISTANT = "homeassistant"
    DOCKER = "docker"
    PI = "pi"
    STANDALONE = "standalone"


class PrinterType(StrEnum):
    """Printer families Printernizer talks to (never a model name or serial)."""

    BAMBU_LAB = "bambu_lab"
    PRUSA_CORE = "prusa_core"
    OCTOPRINT = "octoprint"
    KLIPPER = "klipper"
    UNKNOWN = "unknown"


_MIDNIGHT = time(0)


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC (Printernizer 1.0 clients send naive ones)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def round_to_day(value: datetime) -> datetime:
    """Midnight UTC of the day `value` falls on: exact times are never sent."""
    offset = value.utcoffset()
    if offset is not None and not offset and value.time() == _MIDNIGHT:
        # Already midnight UTC, as every current client sends it (the server validates three
        # of these per submission): only the tzinfo object is made the same.
        return value if value.tzinfo is UTC else value.replace(tzinfo=UTC)
    value = _utc(value)
    return datetime.combine(value.date(), _MIDNIGHT, tzinfo=UTC)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def _day_rounded(value: datetime) -> datetime:
    try:
        rounded = round_to_day(value)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last representable day
        raise ValueError("time out of range") from None
    if not MIN_DAY <= rounded.date() < END_DAY:
        raise ValueError(f"time out of range ({MIN_DAY.year} to {END_DAY.year - 1})")
    return rounded


def _check_country(value: str) -> str:
    if value != UNKNOWN_COUNTRY and value not in COUNTRY_CODES:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (use 'XX')")
    return value


DayTime = Annotated[datetime, AfterValidator(_day_rounded)]
# Counts on the wire are JSON integers: not booleans (`true`), strings or floats.
StrictCount = Annotated[int, Strict()]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
# What a host that does not say its version reports: an explicit value the server accepts and
# buckets as its own version row, never a guess.
UNKNOWN_VERSION = "unknown"
# A release number, not free text: 2.4.0, 2025.4.4, 1.0.0-beta.2, 2.1rc1, 0.9.post1+local3 —
# or the literal UNKNOWN_VERSION. ASCII digits only (`\d` would also take Arabic-Indic or
# full-width digits), and no leading zeros in the numbers (14.31.07 is a time of day).
VERSION_PATTERN = (
    r"^(?:unknown|(?:0|[1-9][0-9]{0,3})(\.(?:0|[1-9][0-9]{0,5})){0,3}"
    r"([.\-+]?(a|b|rc|dev|post|alpha|beta|pre|local)\.?[0-9]{0,6}){0,2})$"
)
_VERSION = re.compile(VERSION_PATTERN)


def is_version(value: str) -> bool:
    """A release number that is not also an IPv4 address ("192.168.1.23" fits the pattern)."""
    return len(value) <= 32 and _VERSION.fullmatch(value) is not None and not IPV4.search(value)


def _check_version(value: str) -> str:
    if not is_version(value):
        raise ValueError("looks like an IP address, not a version")
    return value


def _registry_check(allowed: frozenset[str], what: str) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"not a known {what} (see docs/PRIVACY.md)")
        return value

    return AfterValidator(check)


def _check_error_type(value: str) -> str:
    if not is_error_type_name(value):
        raise ValueError(
            "not an exception class name (CamelCase ending in Error, Exception, Warning, ...)"
        )
    return value


def _check_event_type(value: str) -> str:
    if not is_event_type_name(value):
        raise ValueError("not a known event type")
    return value


def _check_consent_version(value: str) -> str:
    if not is_consent_version(value):
        raise ValueError("not a consent version (YYYY-MM)")
    return value


_IDENTIFIER = r"^[a-z][a-z0-9_]{0,47}$"
# The pattern stays in the JSON schema; the address check needs look-around, which
# pydantic's regex engine does not have.
VersionStr = Annotated[
    str, StringConstraints(max_length=32, pattern=VERSION_PATTERN), AfterValidator(_check_version)
]
# 3.13 or 3.13.0: a Python release (14.31.07, a time of day, is not one).
PythonVersion = Annotated[
    str, StringConstraints(pattern=r"^[3-9]\.(?:0|[1-9][0-9]?)(?:\.(?:0|[1-9][0-9]?))?$")
]
PlatformName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,23}$"),
    _registry_check(KNOWN_PLATFORMS, "platform"),
]
CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_check_country)
]
# Feature keys come from the registry (core/registry.py); unknown ones are refused.
FeatureName = Annotated[
    str, StringConstraints(pattern=_IDENTIFIER), _registry_check(KNOWN_FEATURES, "feature")
]
EventTypeName = Annotated[
    str, StringConstraints(pattern=_IDENTIFIER), AfterValidator(_check_event_type)
]
ErrorTypeName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]{1,63}$"),
    AfterValidator(_check_error_type),
]
ConsentVersion = Annotated[
    str, StringConstraints(pattern=CONSENT_VERSION_PATTERN), AfterValidator(_check_consent_version)
]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
FeatureFlags = dict[FeatureName, Annotated[bool, Strict()]]
PrinterCount = Annotated[int, Strict(), Field(ge=0, le=MAX_PRINTERS)]


class _Strict(BaseModel):
    """Unknown fields are rejected everywhere on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InstallationInfo(_Strict):
    """Who is reporting, anonymously: a random id and coarse environment facts."""

    installation_id: uuid.UUID
    first_seen: DayTime
    app_version: VersionStr
    python_version: PythonVersion
    platform: PlatformName
    deployment_mode: DeploymentMode
    country_code: CountryCode = UNKNOWN_COUNTRY


class TimePeriod(_Strict):
    """A reporting window of whole UTC days: [start, end)."""

    start: DayTime
    end: DayTime
    duration_days: StrictCount = Field(ge=1, le=MAX_PERIOD_DAYS)

    @model_validator(mode="after")
    def _consistent(self) -> TimePeriod:
        days = (self.end - self.start).days
        if days != self.duration_days:
            raise ValueError(
                f"duration_days is {self.duration_days} but start..end spans {days} days"
            )
        return self

    @classmethod
    def from_days(cls, first: date, end: date) -> TimePeriod:
        """The period covering the days first .. end-1."""
        return cls(start=day_start(first), end=day_start(end), duration_days=(end - first).days)

    @property
    def first_day(self) -> date:
        """The first day inside the period."""
        return self.start.date()

    @property
    def end_day(self) -> date:
        """The first day after the period."""
        return self.end.date()

    def days(self) -> list[date]:
        """Every day inside the period."""
        return [self.first_day + timedelta(days=i) for i in range(self.duration_days)]


class PrinterFleetStats(_Strict):
    """How many printers of which family, never which printers."""

    printer_count: PrinterCount
    printer_types: list[PrinterType] = Field(default_factory=list, max_length=len(PrinterType))
    printer_type_counts: dict[PrinterType, PrinterCount] = Field(
        default_factory=dict, max_length=len(PrinterType)
    )

    @model_validator(mode="after")
    def _consistent(self) -> PrinterFleetStats:
        if (
            self.printer_type_counts
            and sum(self.printer_type_counts.values()) != self.printer_count
        ):
            raise ValueError("printer_type_counts must add up to printer_count")
        return self

    @classmethod
    def from_counts(cls, counts: dict[PrinterType, int]) -> PrinterFleetStats:
        """Fleet stats from per-type counts (zero counts are left out)."""
        kept = {ptype: n for ptype, n in sorted(counts.items()) if n > 0}
        return cls(
            printer_count=sum(kept.values()),
            printer_types=list(kept),
            printer_type_counts=kept,
        )


class UsageStats(_Strict):
    """Activity counts over the period (schema 1.0 fields first, then 2.0 additions)."""

    job_count: Count = 0
    file_count: Count = 0
    upload_count: Count = 0
    uptime_hours: StrictCount = Field(default=0, ge=0, le=MAX_PERIOD_DAYS * 24)
    feature_usage: FeatureFlags = Field(default_factory=dict, max_length=MAX_MAP_ENTRIES)
    jobs_created: Count = 0
    jobs_completed: Count = 0
    jobs_failed: Count = 0
    printer_connections: Count = 0
    app_starts: Count = 0


class AggregatedStats(_Strict):
    """The weekly payload: exactly what an opted-in installation sends (schema 2.0)."""

    schema_version: Literal["2.0"] = "2.0"
    submission_id: uuid.UUID
    consent_version: ConsentVersion
    installation: InstallationInfo
    period: TimePeriod
    printer_fleet: PrinterFleetStats
    usage_stats: UsageStats
    error_summary: dict[ErrorTypeName, Count] = Field(
        default_factory=dict, max_length=MAX_MAP_ENTRIES
    )
    event_counts: dict[EventTypeName, Count] = Field(
        default_factory=dict, max_length=MAX_MAP_ENTRIES
    )
    # sha256 of the installation's deletion secret: lets the server check a deletion request
    # without ever holding the secret itself.
    deletion_key_hash: Sha256Hex | None = None

    def to_json(self) -> str:
        """The canonical wire text: preview, sent body and log line are this string."""
        return self.model_dump_json()


def submission_id_for(installation_id: uuid.UUID, period: TimePeriod) -> uuid.UUID:
    """Deterministic idempotency key of one installation's report for one period."""
    return uuid.uuid5(
        SUBMISSION_NAMESPACE,
        f"{installation_id}/{period.start.date().isoformat()}/{period.end.date().isoformat()}",
    )


class LegacyUsageStats(_Strict):
    """Printernizer schema 1.0 usage block."""

    job_count: Count = 0
    file_count: Count = 0
    upload_count: Count = 0
    uptime_hours: Annotated[float, Strict()] = Field(default=0, ge=0, le=MAX_PERIOD_DAYS * 24)
    feature_usage: FeatureFlags = Field(default_factory=dict, max_length=MAX_MAP_ENTRIES)


class LegacyAggregatedStats(_Strict):
    """What existing Printernizer clients send (schema 1.0, naive datetimes allowed)."""

    schema_version: Literal["1.0"] = "1.0"
    submission_timestamp: datetime | None = None
    installation: InstallationInfo
    period: TimePeriod
    printer_fleet: PrinterFleetStats
    usage_stats: LegacyUsageStats
    error_summary: dict[ErrorTypeName, Count] = Field(
        default_factory=dict, max_length=MAX_MAP_ENTRIES
    )

    def normalise(self) -> AggregatedStats:
        """The same report in the current schema (a 1.0 report carries no consent version)."""
        usage = self.usage_stats
        return AggregatedStats(
            submission_id=submission_id_for(self.installation.installation_id, self.period),
            consent_version=LEGACY_CONSENT_VERSION,
            installation=self.installation,
            period=self.period,
            printer_fleet=self.printer_fleet,
            usage_stats=UsageStats(
                job_count=usage.job_count,
                file_count=usage.file_count,
                upload_count=usage.upload_count,
                uptime_hours=round(usage.uptime_hours),
                feature_usage=usage.feature_usage,
            ),
            error_summary=self.error_summary,
        )


def parse_submission(data: dict[str, Any]) -> AggregatedStats:
    """Validate a decoded payload of any supported schema and return it in the current one.

    Raises pydantic.ValidationError for anything that does not fit.
    """
    version = data.get("schema_version", LEGACY_SCHEMA_VERSION)
    if version == LEGACY_SCHEMA_VERSION:
        return LegacyAggregatedStats.model_validate(data).normalise()
    return AggregatedStats.model_validate(data)


class UsageEvent(BaseModel):
    """One recorded event as the local store holds it (already passed the privacy guard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: EventTypeName
    timestamp: datetime
    metadata: dict[str, str | int | bool] = Field(default_factory=dict, max_length=16)
    submitted: bool = False
    id: int | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _utc(value)


class UsageSettings(BaseModel):
    """The user's choices and the installation's identity as the fronts see them."""

    model_config = ConfigDict(extra="forbid")

    opted_in: bool = False
    # True when DO_NOT_TRACK or the kill switch forbids any network activity.
    blocked_by_environment: bool = False
    consent_version: str | None = None
    consented_at: DayTime | None = None
    installation_id: uuid.UUID | None = None
    first_seen: DayTime | None = None
    endpoint: str | None = None
    retention_days: int = Field(default=90, ge=1, le=3650)

    @property
    def sharing(self) -> bool:
        """Whether reports may leave the machine."""
        return self.opted_in and not self.blocked_by_environment


class DailyCount(BaseModel):
    """Events of one day, for the local viewer's chart."""

    day: date
    total: int
    by_type: dict[str, int]


class LocalStats(BaseModel):
    """What the user can see about their own installation."""

    settings: UsageSettings
    installation: InstallationInfo | None
    period: TimePeriod
    usage_stats: UsageStats
    printer_fleet: PrinterFleetStats
    error_summary: dict[str, int]
    event_counts: dict[str, int]
    daily: list[DailyCount]
    total_events: int
    events_dropped: int
    events_rejected: int
    oldest_event: datetime | None


class SharingState(StrEnum):
    """What the user sees about sending: off, on, on but failing, or vetoed by the environment."""

    OFF = "off"
    ON = "on"
    FAILING = "failing"
    BLOCKED = "blocked"


class SubmissionStatus(BaseModel):
    """Delivery state for the fronts (sensors, status endpoint, repair issues)."""

    state: SharingState
    endpoint: str | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    next_attempt: datetime | None = None
    pending_periods: int = 0
    failed_periods: int = 0
    # How long delivery has been failing without a success, in whole periods.
    failing_periods: int = 0
