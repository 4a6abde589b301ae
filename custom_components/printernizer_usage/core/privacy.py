"""The privacy guard: the one allow-list that decides what may be stored or sent."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .detectors import pii_kind
from .models import MAX_COUNT, DeploymentMode, PrinterType, is_version
from .registry import (
    EVENT_TYPE_NAMES,
    KNOWN_FEATURES,
    OTHER_ERROR,
    is_error_type_name,
)

_LOGGER = logging.getLogger(__name__)

Scalar = str | int | bool


def find_pii(value: Any, _depth: int = 0) -> str | None:
    """Scan a value and everything nested in it; the first detector that fires, or None.

    Mapping keys are scanned as well as values: a key can carry a name just as well.
    """
    if _depth > 8:
        return "too_deep"
    if isinstance(value, str):
        return pii_kind(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_pii(key, _depth + 1) or find_pii(item, _depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            found = find_pii(item, _depth + 1)
            if found:
                return found
    return None


# --- value shapes -----------------------------------------------------------------------------

DURATION_BUCKETS: Final = (
    (60, "<1m"),
    (5 * 60, "1-5m"),
    (15 * 60, "5-15m"),
    (60 * 60, "15-60m"),
    (3 * 3600, "1-3h"),
    (8 * 3600, "3-8h"),
    (24 * 3600, "8-24h"),
)
SIZE_BUCKETS: Final = (
    (1 << 20, "<1MB"),
    (10 << 20, "1-10MB"),
    (50 << 20, "10-50MB"),
    (200 << 20, "50-200MB"),
    (1 << 30, "200MB-1GB"),
)
FILE_TYPES: Final = frozenset({"3mf", "gcode", "bgcode", "stl", "obj", "step", "other"})
COMPONENTS: Final = frozenset(
    {"api", "database", "printer", "file_manager", "scheduler", "monitoring", "ui", "other"}
)
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
# The dotted name an error text starts with ("aiohttp.ClientError: ..."), at most 200 chars.
_ERROR_PREFIX = re.compile(r"\s{0,8}([A-Za-z_][A-Za-z0-9_.]{0,199})")


class Rejected(ValueError):
    """A value does not fit its allowed shape (the message never repeats the value)."""


def _bucket(value: Any, buckets: tuple[tuple[int, str], ...], last: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected("expected a number")
    if value < 0:
        raise Rejected("expected a non-negative number")
    for limit, label in buckets:
        if value < limit:
            return label
    return last


def duration_bucket(seconds: Any) -> str:
    """A coarse duration label; exact durations are never kept."""
    return _bucket(seconds, DURATION_BUCKETS, ">24h")


def size_bucket(size_bytes: Any) -> str:
    """A coarse size label; exact sizes are never kept."""
    return _bucket(size_bytes, SIZE_BUCKETS, ">1GB")


def error_type_name(value: Any) -> str:
    """Reduce an exception, class or error text to its bare class name.

    Raises Rejected when the name is not an exception class name by the registry's rule
    (registry.is_error_type_name): `John Smith` is refused, never cut down to `John`.
    """
    if isinstance(value, BaseException):
        name = type(value).__name__
    elif isinstance(value, type) and issubclass(value, BaseException):
        name = value.__name__
    elif isinstance(value, str):
        match = _ERROR_PREFIX.match(value)
        if not match:
            raise Rejected("not an error type name")
        rest = value[match.end() :].lstrip()
        if rest and rest[0] not in ":(":
            # "John Smith", "Error in /home/x": text, not a class name and its message.
            raise Rejected("not an error type name")
        name = match.group(1).rsplit(".", 1)[-1]
    else:
        raise Rejected("not an error type name")
    if not is_error_type_name(name):
        raise Rejected("not an exception class name")
    return name


def _enum(allowed: frozenset[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str):
            cleaned = value.strip().lower()
            if cleaned in allowed:
                return cleaned
        raise Rejected("not one of the allowed values")

    return check


def feature_name(value: Any) -> str:
    """A feature from the registry (registry.KNOWN_FEATURES); anything else is refused."""
    if isinstance(value, str) and value in KNOWN_FEATURES:
        return value
    raise Rejected("not a known feature")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise Rejected("not a count")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Rejected("not a boolean")


def _version(value: Any) -> str:
    if isinstance(value, str) and is_version(value):
        return value
    raise Rejected("not a version")


def _file_type(value: Any) -> str:
    if not isinstance(value, str):
        raise Rejected("not a file type")
    cleaned = value.strip().lower().lstrip(".")
    return cleaned if cleaned in FILE_TYPES else "other"


printer_type = _enum(frozenset(PrinterType))
deployment_mode = _enum(frozenset(DeploymentMode))


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one metadata key is checked and reduced; `store_as` renames a reduced value.

    A refused value is dropped, or stored as `fallback` when there is one (an error whose
    class is refused still counts, as OtherError).
    """

    check: Callable[[Any], Scalar]
    store_as: str | None = None
    fallback: Scalar | None = None


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An allowed event type and the metadata keys it may carry."""

    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    # The metadata key whose value daily rollups count by (for breakdowns such as error types).
    dimension: str | None = None
    # Values stored when the event does not carry these keys (or carries only refused ones):
    # an error_occurred without a class is still an error, under OtherError.
    defaults: Mapping[str, Scalar] = field(default_factory=dict)


_PRINTER = FieldRule(printer_type)
_DURATION = FieldRule(duration_bucket, store_as="duration")
_SIZE = FieldRule(size_bucket, store_as="file_size")
_ERROR = FieldRule(error_type_name, fallback=OTHER_ERROR)
_ERROR_AS_TYPE = FieldRule(error_type_name, "error_type", OTHER_ERROR)
_FILE_FIELDS: Mapping[str, FieldRule] = {
    "printer_type": _PRINTER,
    "file_type": FieldRule(_file_type),
    "file_size": _SIZE,
    "file_size_bytes": _SIZE,
    "source": FieldRule(_enum(frozenset({"printer", "upload", "library", "api", "other"}))),
}
_JOB_FIELDS: Mapping[str, FieldRule] = {
    "printer_type": _PRINTER,
    "duration": _DURATION,
    "duration_seconds": _DURATION,
    "file_type": FieldRule(_file_type),
}

EVENT_TYPES: dict[str, EventSpec] = {
    "app_start": EventSpec(
        {"app_version": FieldRule(_version), "deployment_mode": FieldRule(deployment_mode)}
    ),
    "app_shutdown": EventSpec({"uptime": _DURATION, "uptime_seconds": _DURATION}),
    "job_created": EventSpec({"printer_type": _PRINTER}, dimension="printer_type"),
    "job_completed": EventSpec(_JOB_FIELDS, dimension="printer_type"),
    "job_failed": EventSpec(
        {**_JOB_FIELDS, "error_type": _ERROR, "error": _ERROR_AS_TYPE},
        dimension="error_type",
    ),
    "file_downloaded": EventSpec(_FILE_FIELDS, dimension="printer_type"),
    "file_uploaded": EventSpec(_FILE_FIELDS, dimension="printer_type"),
    "printer_connected": EventSpec({"printer_type": _PRINTER}, dimension="printer_type"),
    "printer_disconnected": EventSpec({"printer_type": _PRINTER}, dimension="printer_type"),
    "error_occurred": EventSpec(
        {
            "error_type": _ERROR,
            "error": _ERROR_AS_TYPE,
            "exception": _ERROR_AS_TYPE,
            "component": FieldRule(_enum(COMPONENTS)),
            "printer_type": _PRINTER,
        },
        dimension="error_type",
        defaults={"error_type": OTHER_ERROR},
    ),
    "feature_enabled": EventSpec({"feature": FieldRule(feature_name)}, dimension="feature"),
    "feature_disabled": EventSpec({"feature": FieldRule(feature_name)}, dimension="feature"),
}


def register_event_type(name: str, spec: EventSpec) -> None:
    """Allow a new event type (see docs/ADDING_EVENTS.md); names are lower-case identifiers."""
    if not _IDENTIFIER.match(name):
        raise ValueError("event type names are lower-case identifiers")
    if spec.dimension is not None and spec.dimension not in {
        rule.store_as or key for key, rule in spec.fields.items()
    }:
        raise ValueError("the dimension must be one of the event's metadata keys")
    EVENT_TYPES[name] = spec
    EVENT_TYPE_NAMES.add(name)


@dataclass(slots=True)
class GuardCounters:
    """How much the guard refused, for the local viewer and diagnostics (never what)."""

    rejected_events: int = 0
    dropped_fields: int = 0


COUNTERS = GuardCounters()


def sanitize_event(
    event_type: Any, metadata: Mapping[str, Any] | None
) -> tuple[str, dict[str, Scalar]] | None:
    """Check an event against the allow-list.

    Returns (event_type, metadata) reduced to allowed keys and shapes, or None when the event
    type is unknown. Keys that are not allowed, or whose values do not fit, are dropped.
    """
    spec = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        COUNTERS.rejected_events += 1
        _LOGGER.debug("usage event refused: unknown event type")
        return None
    clean: dict[str, Scalar] = {}
    if not metadata:
        return event_type, {**spec.defaults}
    if not isinstance(metadata, Mapping):
        COUNTERS.dropped_fields += 1
        _LOGGER.debug("metadata of a %s event dropped: not a mapping", event_type)
        return event_type, {**spec.defaults}
    fields = spec.fields
    for key, value in metadata.items():
        rule = fields.get(key) if isinstance(key, str) else None
        if rule is None:
            COUNTERS.dropped_fields += 1
            _LOGGER.debug("a metadata key of a %s event was dropped: not allowed", event_type)
            continue
        try:
            reduced = rule.check(value)
        except Rejected as err:
            COUNTERS.dropped_fields += 1
            if rule.fallback is None:
                _LOGGER.debug("metadata '%s' of a %s event dropped: %s", key, event_type, err)
                continue
            _LOGGER.debug("metadata '%s' of a %s event bucketed: %s", key, event_type, err)
            reduced = rule.fallback
        name = rule.store_as or key
        if name not in clean or clean[name] == rule.fallback:
            # A refused value does not replace an accepted one stored under the same name.
            clean[name] = reduced
    for name, value in spec.defaults.items():
        clean.setdefault(name, value)
    return event_type, clean


def sanitize_feature_flags(flags: Mapping[Any, Any]) -> dict[str, bool]:
    """Feature on/off flags reduced to registry features and real booleans."""
    clean: dict[str, bool] = {}
    for key, value in flags.items():
        try:
            clean[feature_name(key)] = _boolean(value)
        except Rejected:
            COUNTERS.dropped_fields += 1
            _LOGGER.debug("a feature flag was dropped: not a known feature and a boolean")
    return clean


def sanitize_fleet(counts: Mapping[Any, Any]) -> dict[PrinterType, int]:
    """Printer counts per family; unknown families count as 'unknown', never by name."""
    clean: dict[PrinterType, int] = {}
    for key, value in counts.items():
        try:
            number = _count(value)
        except Rejected:
            COUNTERS.dropped_fields += 1
            _LOGGER.debug("a printer count was dropped: not a count")
            continue
        try:
            ptype = PrinterType(printer_type(key))
        except Rejected:
            ptype = PrinterType.UNKNOWN
        clean[ptype] = clean.get(ptype, 0) + number
    return clean
