"""The privacy guard: the allow-list and the detectors, table-driven and generated."""

from __future__ import annotations

import json
import logging
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printernizer_usage_core.privacy import (
    COUNTERS,
    EVENT_TYPES,
    EventSpec,
    FieldRule,
    duration_bucket,
    error_type_name,
    find_pii,
    pii_kind,
    register_event_type,
    sanitize_event,
    sanitize_feature_flags,
    sanitize_fleet,
    size_bucket,
)
from printernizer_usage_core.registry import EVENT_TYPE_NAMES, platform_name

PERSONAL = {
    "email": ["alice@example.com", "bob.smith+3d@mail.co.uk"],
    "ipv4": ["192.168.1.23", "printer at 10.0.0.7"],
    "ipv6": ["fe80::1ff:fe23:4567:890a", "2001:db8::8a2e:370:7334"],
    "mac_address": ["00:1A:2B:3C:4D:5E", "aa-bb-cc-dd-ee-ff"],
    "url": ["http://printer.lan/api", "https://x.y/z", "www.example"],
    "hostname": ["bambu-x1c.local", "octopi.fritz.box", "nas.example.org"],
    "posix_path": ["/home/alice/benchy", "~/prints/x", "../secret"],
    "windows_path": ["C:\\Users\\Alice", "\\\\nas\\share\\x"],
    "file_name": ["benchy.3mf", "part.gcode"],
    "serial": ["01S00C123456789", "SN-AB12CD34EF", "deadbeefcafe1234"],
    "free_text": ["Alice's Printer", "kitchen printer"],
}
HARMLESS = [
    "bambu_lab",
    "prusa_core",
    "ValueError",
    "1.2.3",
    "2026.11.0",
    "auto_download",
    "3mf",
    "linux",
]


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in PERSONAL.items() for v in vs])
def test_detectors_catch_personal_data(kind: str, value: str) -> None:
    assert pii_kind(value) is not None, f"{value!r} should look like {kind}"


@pytest.mark.parametrize("value", HARMLESS)
def test_detectors_leave_allowed_values_alone(value: str) -> None:
    assert pii_kind(value) is None


def test_find_pii_looks_into_nested_structures_and_keys() -> None:
    assert find_pii({"a": [1, {"b": ("x", "alice@example.com")}]}) == "email"
    assert find_pii({"alice@example.com": 1}) == "email"
    assert find_pii({"ok": [1, 2, {"fine": True}]}) is None
    deep: object = "x"
    for _ in range(12):
        deep = [deep]
    assert find_pii(deep) == "too_deep"


@pytest.mark.parametrize(
    ("event_type", "metadata", "expected"),
    [
        (
            "job_completed",
            {"printer_type": "Bambu_Lab", "duration_seconds": 5400},
            {"printer_type": "bambu_lab", "duration": "1-3h"},
        ),
        ("job_completed", {"duration": 10}, {"duration": "<1m"}),
        ("job_completed", {"duration": 90000}, {"duration": ">24h"}),
        (
            "job_failed",
            {"error": "ConnectionError: printer 192.168.1.5 unreachable"},
            {"error_type": "ConnectionError"},
        ),
        (
            "error_occurred",
            {"exception": "aiohttp.client_exceptions.ClientError: x"},
            {"error_type": "ClientError"},
        ),
        (
            "error_occurred",
            {"error_type": "not a class", "component": "printer"},
            {"component": "printer", "error_type": "OtherError"},
        ),
        ("app_start", {"app_version": "192.168.1.23"}, {}),
        ("app_start", {"app_version": "2.0.1.4"}, {}),  # four short groups read as an address
        ("app_start", {"app_version": "2025.4.4"}, {"app_version": "2025.4.4"}),
        (
            "file_downloaded",
            {"file_type": ".3MF", "file_size": 4_200_000},
            {"file_type": "3mf", "file_size": "1-10MB"},
        ),
        (
            "file_uploaded",
            {"file_type": "blend", "file_size_bytes": 2 << 30},
            {"file_type": "other", "file_size": ">1GB"},
        ),
        ("file_uploaded", {"file_name": "/home/alice/benchy.3mf"}, {}),
        ("printer_connected", {"printer_type": "my printer", "name": "Alice's X1C"}, {}),
        (
            "app_start",
            {"app_version": "2.4.0", "deployment_mode": "docker", "host": "pi.local"},
            {"app_version": "2.4.0", "deployment_mode": "docker"},
        ),
        ("feature_enabled", {"feature": "auto_download"}, {"feature": "auto_download"}),
        ("feature_enabled", {"feature": "alice@example.com"}, {}),
        ("app_shutdown", {"uptime_seconds": True}, {}),
        ("app_shutdown", {"uptime_seconds": float("nan")}, {}),
        ("app_shutdown", {"uptime_seconds": -5}, {}),
        ("app_shutdown", None, {}),
    ],
)
def test_sanitize_event_keeps_only_allowed_shapes(event_type, metadata, expected) -> None:
    assert sanitize_event(event_type, metadata) == (event_type, expected)


@pytest.mark.parametrize("event_type", ["user_login", "", None, 5, "JOB_COMPLETED"])
def test_unknown_event_types_are_refused(event_type) -> None:
    assert sanitize_event(event_type, {}) is None
    assert COUNTERS.rejected_events == 1


def test_non_mapping_metadata_is_dropped() -> None:
    assert sanitize_event("job_created", ["alice"]) == ("job_created", {})  # type: ignore[arg-type]
    assert COUNTERS.dropped_fields == 1


def test_rejection_log_never_repeats_the_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="printernizer_usage_core.privacy")
    sanitize_event("job_failed", {"error": "my secret text", "owner": "alice@example.com"})
    sanitize_event("alice@example.com", {})
    assert caplog.records
    assert "alice" not in caplog.text
    assert "secret" not in caplog.text


def test_error_type_name_reduces_exceptions_to_their_class() -> None:
    assert error_type_name(KeyError("/home/alice")) == "KeyError"
    assert error_type_name(TimeoutError) == "TimeoutError"
    for bad in ("lowercase", "", 12, "   ", "/etc/passwd"):
        with pytest.raises(ValueError):
            error_type_name(bad)


def test_buckets_refuse_non_numbers() -> None:
    assert size_bucket(0) == "<1MB"
    assert duration_bucket(60) == "1-5m"
    for bad in ("5", None, True, -1, float("inf")):
        with pytest.raises(ValueError):
            duration_bucket(bad)


def test_feature_flags_and_fleet_are_reduced() -> None:
    assert sanitize_feature_flags({"auto_download": True, "Alice's": True, "x": "yes"}) == {
        "auto_download": True
    }
    assert sanitize_fleet(
        {"bambu_lab": 2, "Garage X1C SN123": 1, "prusa_core": -1, "octoprint": True}
    ) == {
        "bambu_lab": 2,
        "unknown": 1,
    }


def test_new_event_types_can_be_registered_safely() -> None:
    register_event_type(
        "camera_snapshot",
        EventSpec({"printer_type": FieldRule(lambda v: str(v))}, dimension="printer_type"),
    )
    try:
        assert sanitize_event("camera_snapshot", {"printer_type": "x", "path": "/tmp/a"}) == (
            "camera_snapshot",
            {"printer_type": "x"},
        )
        assert "camera_snapshot" in EVENT_TYPE_NAMES  # the wire model now counts it too
    finally:
        del EVENT_TYPES["camera_snapshot"]
        EVENT_TYPE_NAMES.discard("camera_snapshot")
    with pytest.raises(ValueError, match="identifiers"):
        register_event_type("Camera Snapshot", EventSpec())
    with pytest.raises(ValueError, match="dimension"):
        register_event_type("camera_snapshot", EventSpec({}, dimension="missing"))


def test_the_registry_knows_every_built_in_event_type() -> None:
    assert set(EVENT_TYPES) == EVENT_TYPE_NAMES


@pytest.mark.parametrize(
    ("system", "name"),
    [
        ("Linux", "linux"),
        ("Darwin", "darwin"),
        ("Windows", "windows"),
        ("CYGWIN_NT-10.0-19045", "cygwin"),
        ("Alices-MacBook", "other"),
        ("", "other"),
    ],
)
def test_platform_names_come_from_the_registry(system: str, name: str) -> None:
    assert platform_name(system) == name


def test_error_classes_from_exceptions_and_texts() -> None:
    class error_perm(Exception):
        pass

    with pytest.raises(ValueError):
        error_type_name(error_perm("550 /home/alice"))
    assert sanitize_event("job_failed", {"error": error_perm("x")}) == (
        "job_failed",
        {"error_type": "OtherError"},
    )
    assert error_type_name("KeyError('x')") == "KeyError"
    assert error_type_name("  TimeoutError\n") == "TimeoutError"
    for text in ("John Smith", "Bob", "Error in /home/alice", "click_count"):
        with pytest.raises(ValueError):
            error_type_name(text)


# --- generated: personal data hidden anywhere in metadata never survives -------------------

_pii = st.sampled_from([v for vs in PERSONAL.values() for v in vs])
_scalar = st.one_of(
    st.integers(-5, 10**7), st.booleans(), st.text(string.ascii_letters, max_size=6), _pii
)
_nested = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_all_keys = sorted(
    {key for spec in EVENT_TYPES.values() for key in spec.fields} | {"name", "host", "path", "user"}
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    event_type=st.sampled_from(sorted(EVENT_TYPES)),
    metadata=st.dictionaries(st.sampled_from(_all_keys), st.one_of(_nested, _pii), max_size=6),
)
def test_generated_personal_data_never_passes_the_guard(event_type, metadata) -> None:
    result = sanitize_event(event_type, metadata)
    assert result is not None
    _, clean = result
    text = json.dumps(clean)
    for values in PERSONAL.values():
        for value in values:
            assert value not in text
    assert find_pii(clean) is None
    assert all(isinstance(v, str | int | bool) for v in clean.values())


def test_no_name_the_project_declares_looks_personal() -> None:
    """The server scans every string of a report: declared names must pass that scan."""
    from printernizer_usage_core.models import AggregatedStats, DeploymentMode, PrinterType
    from printernizer_usage_core.registry import KNOWN_FEATURES, KNOWN_PLATFORMS

    names = {
        *KNOWN_FEATURES,
        *KNOWN_PLATFORMS,
        *EVENT_TYPE_NAMES,
        *PrinterType,
        *DeploymentMode,
        *AggregatedStats.model_fields,
        "OtherError",
        "2026-11",
        "1.0",
        "2.0",
        "unknown",
    }
    assert [name for name in sorted(names) if pii_kind(name) is not None] == []
