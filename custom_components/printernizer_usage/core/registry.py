"""What names may travel: Printernizer's declared features, platforms, event types, error names.

The one rule the client guard (privacy.py) and the wire models (models.py, which the
aggregation server validates with) both call. Names are allowed by construction: a feature or
platform must be listed here; an error type must have the shape of an exception class name
and read as nothing personal; anything else is refused by the server and bucketed or dropped
by the client. docs/PRIVACY.md explains the rules; docs/ADDING_EVENTS.md how to extend them.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from .detectors import identifier_pii_kind, name_identifier_kind

# --- features ------------------------------------------------------------------------------

# Printernizer's switchable features, as the HA integration, the standalone service
# (PUT features, feature_enabled/feature_disabled events) and the demo data name them.
# A new feature is added here, and released on the server first: a report naming a feature
# the server does not know is refused.
KNOWN_FEATURES: Final = frozenset(
    [
        "ams_tracking",
        "auto_download",
        "auto_job_creation",
        "backup",
        "business_analytics",
        "camera",
        "file_library",
        "german_compliance",
        "job_queue",
        "library",
        "material_tracking",
        "metadata_extraction",
        "mqtt_bridge",
        "notifications",
        "printer_discovery",
        "thumbnails",
        "timelapse",
        "watch_folders",
    ]
)

# --- platforms -----------------------------------------------------------------------------

# platform.system().lower() values Python reports; anything else travels as "other".
KNOWN_PLATFORMS: Final = frozenset(
    [
        "aix",
        "android",
        "cygwin",
        "darwin",
        "emscripten",
        "freebsd",
        "ios",
        "java",
        "linux",
        "netbsd",
        "openbsd",
        "sunos",
        "wasi",
        "windows",
        "other",
        "unknown",
    ]
)
OTHER_PLATFORM: Final = "other"


def platform_name(system: str) -> str:
    """The registry name for an OS name such as platform.system() returns ("other" if unlisted)."""
    name = system.strip().lower()
    if name.startswith(("cygwin", "msys", "mingw")):
        return "cygwin"
    return name if name in KNOWN_PLATFORMS else OTHER_PLATFORM


# --- event types ---------------------------------------------------------------------------

# The built-in event types (privacy.EVENT_TYPES holds their rules); register_event_type adds to
# this set. "other" is the fold-in key when a report holds more types than a map may carry.
EVENT_TYPE_NAMES: set[str] = set(
    [
        "app_start",
        "app_shutdown",
        "job_created",
        "job_completed",
        "job_failed",
        "file_downloaded",
        "file_uploaded",
        "printer_connected",
        "printer_disconnected",
        "error_occurred",
        "feature_enabled",
        "feature_disabled",
    ]
)
OTHER_EVENTS: Final = "other"


def is_event_type_name(name: str) -> bool:
    """A known event type, or the fold-in key."""
    return name in EVENT_TYPE_NAMES or name == OTHER_EVENTS


# --- error type names ----------------------------------------------------------------------

# The neutral bucket: an error whose class is missing or refused is still counted, here.
OTHER_ERROR: Final = "OtherError"
MAX_ERROR_NAME_LENGTH: Final = 64
# CamelCase words (an acronym such as HTTP, FTP or MQTT counts as a word; digits may follow a
# word: Http2, X509) ending in one of the suffixes exception classes are named with. No
# underscores, dots, dashes or spaces: `Ejohn_smith_example_com` or `John Smith` never fit.
ERROR_NAME_SUFFIXES: Final = (
    "Error",
    "Exception",
    "Warning",
    "Timeout",
    "Failure",
    "Fault",
    "Interrupt",
    "Exit",
)
_CAMEL_CASE = re.compile(r"(?:[A-Z][a-z0-9]*+)++", re.ASCII)
# Builtin exception classes whose names end otherwise.
KNOWN_EXCEPTION_NAMES: Final = frozenset(
    {"StopIteration", "StopAsyncIteration", "ExceptionGroup", "BaseExceptionGroup"}
)
# A long run of digits inside a name is a number someone put there (a serial, a port, a time).
# Four digits stay allowed: h2's RFC1122Error and isodate's ISO8601Error are real exceptions,
# and four digits alone (a year, a port) name no one.
_LONG_NUMBER = re.compile(r"[0-9]{5}")


def _without_suffix(name: str) -> str:
    """`name` without its exception suffix (`A4C1386B2F9DError` → `A4C1386B2F9D`)."""
    for suffix in ERROR_NAME_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# A pure function of a short string, asked for the same few names in every report (the server
# validates each submission's error names: the detectors took ~15 % of a report's validation).
# Bounded, so that a stream of made-up names only evicts.
@functools.lru_cache(maxsize=4096)
def is_error_type_name(name: str) -> bool:
    """Whether `name` may travel as an error type: an exception class name and nothing else.

    CamelCase ending in Error/Exception/Warning/Timeout/Failure/Fault/Interrupt/Exit (or a
    builtin exception such as StopIteration, or the neutral OtherError), at most 64 ASCII
    letters and digits, no run of five digits, no identifier hidden inside it
    (detectors.name_identifier_kind: 12+ hex digits in a row, or 8+ capitals and digits or
    8+ characters of one CamelCase word holding 2+ digits, as in `Mac001A2B3C4D5EError` or
    `Sn0A1B2C3D4E5Error`), and nothing personal when the name, and the name without its
    suffix, are read as squeezed identifiers. `click_count`, `time_on_page` or `Bob` are not
    error names; `HTTP404Error`, `X509CertificateError` or `IPv6AddressError` are.
    """
    if not 2 <= len(name) <= MAX_ERROR_NAME_LENGTH:
        return False
    if name not in KNOWN_EXCEPTION_NAMES and not (
        name.endswith(ERROR_NAME_SUFFIXES) and _CAMEL_CASE.fullmatch(name)
    ):
        return False
    if _LONG_NUMBER.search(name) or name_identifier_kind(name) is not None:
        return False
    stem = _without_suffix(name)
    return identifier_pii_kind(name) is None and (not stem or identifier_pii_kind(stem) is None)


# --- consent versions ----------------------------------------------------------------------

# The privacy-policy version a user agreed to: YYYY-MM, or "1.0" for schema 1.0 reports
# (which carry none and are normalised to it).
LEGACY_CONSENT_VERSION: Final = "1.0"
CONSENT_VERSION_PATTERN: Final = r"^(?:20[2-9][0-9]-(?:0[1-9]|1[0-2])|1\.0)$"
_CONSENT_VERSION = re.compile(CONSENT_VERSION_PATTERN)


def is_consent_version(value: str) -> bool:
    """The one consent-version format: `2026-11` (year-month) or the legacy `1.0`."""
    return _CONSENT_VERSION.fullmatch(value) is not None
