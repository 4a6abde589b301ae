"""What Printernizer's settings-page script asks of the service: the oracle for page tests.

Transcribed from schmacka/printernizer frontend/js/usage-statistics.js (the version whose
sha256 fixtures/README.md pins): every `fetch` it makes, with the exact `init` it passes, and
every field it reads from the answer, with the JavaScript it applies to the value. The script
itself is AGPL and not committed here; where it is placed, test_upstream_page.py checks that
this table still names exactly its calls and reads, so the table cannot drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Read:
    """One value the script takes from a JSON answer, and what it does with it."""

    path: str  # dotted, as the script writes it after `status.`, `result.` or `stats.`
    use: str  # "bool", "text", "number" (toLocaleString), "date" (new Date) or "number_or_0"
    optional: bool = False  # the script guards it (`x ? … : …` or `x || …`)


@dataclass(frozen=True)
class PageCall:
    """One `fetch` of the script: method, path, and what it reads from the answer."""

    name: str
    method: str
    path: str
    reads: tuple[Read, ...] = field(default=())
    blob: bool = False  # the script saves the body as a download instead of parsing it


STATUS = PageCall("loadStatus", "GET", "/api/v1/usage-stats/status", (Read("opted_in", "bool"),))
OPT_IN = PageCall(
    "toggleOptIn (checked)",
    "POST",
    "/api/v1/usage-stats/opt-in",
    (Read("success", "bool"), Read("message", "text")),
)
OPT_OUT = PageCall(
    "toggleOptIn (unchecked)",
    "POST",
    "/api/v1/usage-stats/opt-out",
    (Read("success", "bool"), Read("message", "text")),
)
LOCAL = PageCall(
    "refreshLocalStats",
    "GET",
    "/api/v1/usage-stats/local",
    (
        Read("first_seen", "date", optional=True),
        Read("last_submission", "date", optional=True),
        Read("installation_id", "text"),
        Read("opt_in_status", "text"),
        Read("total_events", "number"),
        Read("this_week.job_count", "number_or_0"),
        Read("this_week.file_count", "number_or_0"),
        Read("this_week.error_count", "number_or_0"),
    ),
)
EXPORT = PageCall("exportData", "GET", "/api/v1/usage-stats/export", blob=True)
DELETE = PageCall(
    "deleteAllData",
    "DELETE",
    "/api/v1/usage-stats",
    (Read("success", "bool"), Read("deleted_events", "number"), Read("message", "text")),
)

PAGE_CALLS = (STATUS, OPT_IN, OPT_OUT, LOCAL, EXPORT, DELETE)
