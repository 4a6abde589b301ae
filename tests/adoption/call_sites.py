"""Every record_event call Printernizer makes today, with the outcome we expect and why.

Source: schmacka/printernizer src/main.py, src/services/job_service.py,
file_download_service.py, file_upload_service.py, printer_connection_service.py (the eight
hook points), plus the two error_occurred shapes its usage-statistics docs show.
`kept` is the metadata our store holds afterwards; None means the event is refused.
docs/PRINTERNIZER.md has the same table for people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CallSite:
    where: str
    event_type: str
    metadata: dict[str, Any] | None
    kept: dict[str, Any] | None
    why: str


CALL_SITES = [
    CallSite(
        "main.py lifespan, after initialize()",
        "app_start",
        {"app_version": "2.7.0", "python_version": "3.12.3", "platform": "linux"},
        {"app_version": "2.7.0"},
        "python_version and platform are dropped: they travel once per report in the "
        "installation block, not with every event",
    ),
    CallSite(
        "job_service.create_job",
        "job_created",
        {"printer_type": "bambu_lab", "is_auto_created": True},
        {"printer_type": "bambu_lab"},
        "is_auto_created is dropped: not in the allow-list (register it to keep it)",
    ),
    CallSite(
        "job_service.create_job, printer type not known",
        "job_created",
        {"printer_type": "unknown", "is_auto_created": False},
        {"printer_type": "unknown"},
        "'unknown' is an allowed printer family",
    ),
    CallSite(
        "job_service.update_job_status -> completed",
        "job_completed",
        {"duration_minutes": 95},
        {"duration": "1-3h"},
        "duration_minutes is read as seconds x 60 and kept only as a coarse bucket",
    ),
    CallSite(
        "job_service.update_job_status -> completed, no actual_duration",
        "job_completed",
        {"duration_minutes": None},
        {},
        "a missing duration is left out",
    ),
    CallSite(
        "job_service.update_job_status -> failed",
        "job_failed",
        {},
        {},
        "counted; carries nothing",
    ),
    CallSite(
        "file_download_service, download complete",
        "file_downloaded",
        {"file_size_mb": 12.5},
        {"file_size": "10-50MB"},
        "file_size_mb is read as bytes and kept only as a size bucket",
    ),
    CallSite(
        "file_upload_service, upload complete",
        "file_uploaded",
        {"file_size_mb": 0.42, "is_business": True},
        {"file_size": "<1MB"},
        "is_business is dropped: whether a user's work is business or private is not collected",
    ),
    CallSite(
        "printer_connection_service.connect_printer (Bambu Lab)",
        "printer_connected",
        {"printer_type": "bambu_lab"},
        {"printer_type": "bambu_lab"},
        "printer family only",
    ),
    CallSite(
        "printer_connection_service.connect_printer (Prusa, old type name)",
        "printer_connected",
        {"printer_type": "prusa"},
        {"printer_type": "prusa_core"},
        "Printernizer's older type name 'prusa' is read as prusa_core",
    ),
    CallSite(
        "printer_connection_service.disconnect_printer",
        "printer_disconnected",
        {"printer_type": "octoprint"},
        {"printer_type": "octoprint"},
        "printer family only",
    ),
    CallSite(
        "usage-statistics docs: error with class name",
        "error_occurred",
        {"error_type": "TimeoutError", "component": "printer_service"},
        {"error_type": "TimeoutError"},
        "the class name is kept; component 'printer_service' is not one of our component names",
    ),
    CallSite(
        "usage-statistics docs: error with a snake_case label",
        "error_occurred",
        {"error_type": "connection_timeout", "printer_type": "prusa"},
        {"error_type": "OtherError", "printer_type": "prusa_core"},
        "error_type must be an exception class name; a label still counts as an error, under "
        "the neutral OtherError bucket (never as the label itself)",
    ),
    CallSite(
        "a call with an event type upstream's enum does not know",
        "literature_search",
        {"query": "benchy"},
        None,
        "unknown event types are refused (upstream refuses them too)",
    ),
]
