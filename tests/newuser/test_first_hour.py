"""A new user's first hour, over HTTP, as the docs tell it: no 5xx anywhere on the way.

status → events → preview → opt-in → delivered → export → opt-out with remote delete →
delete-all, against the console scripts started with the documented defaults (see conftest).
The steps run in order and share one stack; each step is its own test so a failure names it.
"""

from __future__ import annotations

import json
import time

from .conftest import ADMIN_KEY, Stack

EVENTS = [
    {"event_type": "app_start", "metadata": {"deployment_mode": "standalone"}},
    {"event_type": "printer_connected", "metadata": {"printer_type": "bambu_lab"}},
    {"event_type": "job_completed", "metadata": {"printer_type": "bambu_lab", "duration": 3600}},
]
# What the walk learns on its way (the installation id, to check the server's side).
walk: dict[str, str] = {}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_status_and_health_answer_before_anything_is_shared(stack: Stack) -> None:
    api = stack.api()
    status = api.call("GET", "/status").json()
    assert status["state"] == "off"
    assert status["last_error"] is None
    assert stack.root().call("GET", "/health").json()["status"] == "ok"
    assert api.call("GET", "/local").json()["settings"]["opted_in"] is False


def test_events_are_recorded(stack: Stack) -> None:
    api = stack.api()
    for event in EVENTS:
        assert api.call("POST", "/events", event).status in (200, 201, 202)
    local = api.call("GET", "/local").json()
    assert local["total_events"] >= len(EVENTS)


def test_preview_shows_the_report_with_the_default_version(stack: Stack) -> None:
    preview = stack.api().call("GET", "/preview")
    assert preview.status == 200
    report = json.loads(preview.body)
    assert report["installation"]["app_version"] == "unknown"


def test_opt_in_switches_sharing_on(stack: Stack) -> None:
    settings = stack.api().call("POST", "/opt-in", {}).json()
    assert settings["opted_in"] is True
    walk["installation_id"] = settings["installation_id"]


def test_the_first_report_is_delivered_to_the_server_by_host_name(stack: Stack) -> None:
    api = stack.api()
    # The first report goes out at once; wait on the service's own answer (no deadline: the
    # loop ends on the answer, and fails on an error or when the service process is gone).
    while True:
        status = api.call("GET", "/status").json()
        assert status["last_error"] is None, status
        if status["last_success"] is not None:
            break
        assert stack.service.proc.poll() is None, stack.service.output()
        time.sleep(0.2)
    assert status["state"] == "on"
    summary = stack.admin().call("GET", "/stats/summary?days=30", **ADMIN).json()
    assert summary["submissions_total"] == 1
    assert summary["installations_total"] == 1
    assert stack.root().call("GET", "/health").json()["status"] == "ok"


def test_export_downloads_everything_stored_locally(stack: Stack) -> None:
    export = stack.api().call("GET", "/export")
    assert export.status == 200
    assert "attachment" in export.headers["content-disposition"]
    data = json.loads(export.body)
    assert walk["installation_id"] in json.dumps(data)


def test_opt_out_deletes_the_installation_on_the_server(stack: Stack) -> None:
    body = stack.api().call("POST", "/opt-out", {"delete_remote": True}).json()
    assert body["remote_deleted"] is True, body
    assert body["settings"]["opted_in"] is False
    # The server no longer knows it: the admin deletion finds nothing.
    gone = stack.admin().call("DELETE", f"/installation/{walk['installation_id']}", **ADMIN)
    assert gone.status == 404


def test_delete_all_forgets_everything_local(stack: Stack) -> None:
    api = stack.api()
    body = api.call("DELETE", "/delete-all?delete_remote=true").json()
    assert body["deleted"] is True
    assert body["settings"]["installation_id"] is None
    local = api.call("GET", "/local").json()
    assert local["total_events"] == 0
    assert api.call("GET", "/status").json()["state"] == "off"
