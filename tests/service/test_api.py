"""Every REST endpoint and its error paths, over real HTTP against hypercorn."""

from __future__ import annotations

import json

import aiohttp
from printernizer_usage_core.models import CONSENT_VERSION, AggregatedStats

from .conftest import RunningService

JOB = {"event_type": "job_completed", "metadata": {"printer_type": "prusa_core", "duration": 5400}}


async def post(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, dict]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_health_and_openapi(svc: RunningService, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{svc.url}/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["sharing"] == "off"
    assert body["token_required"] is False
    async with http.get(f"{svc.url}/openapi.json") as response:
        spec = await response.json()
    paths = spec["paths"]
    for path in (
        "local",
        "opt-in",
        "opt-out",
        "export",
        "delete-all",
        "preview",
        "status",
        "events",
    ):
        assert f"/api/v1/usage-stats/{path}" in paths
    assert "requestBody" in paths["/api/v1/usage-stats/events"]["post"]
    async with http.get(f"{svc.url}/docs") as response:
        assert response.status == 200
        assert "openapi.json" in await response.text()


async def test_events_single_batch_and_list(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    status, body = await post(http, svc.api("/events"), JOB)
    assert status == 200
    assert body["accepted"] == 1
    assert body["results"][0] == {
        "index": 0,
        "accepted": True,
        "event_type": "job_completed",
        "reason": None,
        "dropped_fields": [],
    }
    status, body = await post(http, svc.api("/events"), {"events": [JOB, JOB]})
    assert (status, body["accepted"], body["refused"]) == (200, 2, 0)
    status, body = await post(http, svc.api("/events"), [JOB, {"event_type": "app_start"}])
    assert (status, body["accepted"]) == (200, 2)
    async with http.get(svc.api("/local?days=7")) as response:
        local = await response.json()
    assert local["usage_stats"]["jobs_completed"] == 4
    assert local["event_counts"]["job_completed"] == 4
    assert local["daily"][-1]["total"] == 5


async def test_events_refused_per_index_and_not_stored(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    batch = [
        JOB,
        {"event_type": "user_logged_in", "metadata": {"email": "a@b.example"}},
        "job_completed",
        {"event_type": "job_failed", "metadata": {"error": "FileNotFoundError: /home/anna/x.3mf"}},
        {"metadata": {}},
        {
            "event_type": "file_uploaded",
            "metadata": {"file_name": "benchy.3mf", "file_type": "3mf"},
        },
        {"event_type": "job_created", "extra": 1},
        {"event_type": "job_created", "metadata": {"printer_type": "Anna's X1C"}},
    ]
    status, body = await post(http, svc.api("/events"), {"events": batch})
    assert status == 200
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    assert [r["accepted"] for r in results] == [True, False, False, True, False, True, False, True]
    assert "unknown event type" in results[1]["reason"]
    assert "JSON object" in results[2]["reason"]
    assert "event_type" in results[4]["reason"]
    assert "extra" in results[6]["reason"]
    # Trimmed, not refused: the event counts, the personal value is dropped and named.
    assert results[3]["dropped_fields"] == []  # the error text is reduced to its class name
    assert results[5]["dropped_fields"][0]["key"] == "file_name"
    assert results[7]["dropped_fields"][0]["key"] == "printer_type"
    assert body["accepted"] == 4 and body["refused"] == 4

    async with http.get(svc.api("/export")) as response:
        dump = json.dumps(await response.json())
    for secret in ("user_logged_in", "a@b.example", "benchy", "anna", "Anna", "/home"):
        assert secret not in dump
    assert "FileNotFoundError" in dump


async def test_events_bad_requests(svc: RunningService, http: aiohttp.ClientSession) -> None:
    url = svc.api("/events")
    cases = [
        ({"events": []}, 400, "empty"),
        ({"events": [JOB] * 501}, 413, "at most 500"),
        ({"events": JOB}, 400, "list"),
        ({"events": [JOB], "more": 1}, 400, "more"),
        (42, 400, "list"),
    ]
    for body, code, words in cases:
        status, answer = await post(http, url, body)
        assert status == code, body
        assert words in answer["error"]
    async with http.post(url, data="{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert "not valid JSON" in (await r.json())["error"]
    async with http.post(url, data="event_type=x", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415
    async with http.post(url) as r:
        assert r.status == 400
        assert "needs a JSON body" in (await r.json())["error"]
    async with http.post(url, data=b"\xff\xfe", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
    big = json.dumps({"events": [{"event_type": "app_start", "metadata": {"x": "y" * 2_000_000}}]})
    async with http.post(url, data=big, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413


async def test_opt_in_records_consent_and_opt_out(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    async with http.post(svc.api("/opt-in")) as response:
        assert response.status == 200
        settings = await response.json()
    assert settings["opted_in"] is True
    assert settings["consent_version"] == CONSENT_VERSION
    assert settings["installation_id"]
    status, settings = await post(
        http, svc.api("/opt-in"), {"consent_version": CONSENT_VERSION, "endpoint": None}
    )
    assert (status, settings["consent_version"]) == (200, CONSENT_VERSION)
    # A policy the service does not show cannot be agreed to: the preview would differ from
    # what is sent.
    status, answer = await post(http, svc.api("/opt-in"), {"consent_version": "2099-12"})
    assert status == 400 and CONSENT_VERSION in str(answer)
    async with http.get(svc.api("/settings")) as response:
        assert (await response.json())["consent_version"] == CONSENT_VERSION
    async with http.get(f"{svc.url}/health") as response:
        assert (await response.json())["sharing"] == "on"
    async with http.get(svc.api("/status")) as response:
        status = await response.json()
    # This service runs with sending switched off (--no-submit): opted in, nothing planned.
    assert (status["state"], status["blocked_by"], status["sending_enabled"]) == (
        "on",
        "no_submit",
        False,
    )
    assert status["next_attempt"] is None

    async with http.post(svc.api("/opt-out")) as response:
        assert response.status == 200
        body = await response.json()
    assert body["settings"]["opted_in"] is False
    assert body["remote_deleted"] is False


async def test_opt_in_and_opt_out_bad_input(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    for body, words in [
        ({"consent_version": "has spaces!"}, "consent_version"),
        ({"endpoint": "ftp://example.org"}, "http(s)"),
        ({"endpoint": "http://example.org"}, "https"),
        ({"surprise": True}, "surprise"),
        ([1], "JSON object"),
    ]:
        status, answer = await post(http, svc.api("/opt-in"), body)
        assert status == 400, body
        assert words in json.dumps(answer), answer
    status, answer = await post(http, svc.api("/opt-in"), {"endpoint": "http://127.0.0.1:9/"})
    assert (status, answer["endpoint"]) == (200, "http://127.0.0.1:9")
    status, answer = await post(http, svc.api("/opt-out"), {"delete_remote": "maybe"})
    assert status == 400
    assert "delete_remote" in answer["details"][0]


async def test_preview_is_the_exact_payload(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    await post(http, svc.api("/events"), {"events": [JOB, {"event_type": "app_start"}]})
    await post(http, svc.api("/opt-in"), {})
    async with http.get(svc.api("/preview")) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        raw = await response.read()
    expected = await svc.runtime.service.preview()
    assert raw == expected.encode()
    payload = AggregatedStats.model_validate_json(raw)
    assert payload.consent_version == CONSENT_VERSION
    assert payload.to_json().encode() == raw


async def test_status_local_and_days(svc: RunningService, http: aiohttp.ClientSession) -> None:
    async with http.get(svc.api("/status")) as response:
        assert response.status == 200
        assert (await response.json())["state"] == "off"
    async with http.get(svc.api("/local")) as response:
        body = await response.json()
    assert len(body["daily"]) == 30
    assert body["installation"] is None
    for bad in ("0", "401", "many"):
        async with http.get(svc.api(f"/local?days={bad}")) as response:
            assert response.status == 400
            assert "days" in (await response.json())["error"]


async def test_export_download(svc: RunningService, http: aiohttp.ClientSession) -> None:
    await post(http, svc.api("/events"), JOB)
    async with http.get(svc.api("/export")) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"].startswith(
            'attachment; filename="printernizer-usage-export-'
        )
        body = json.loads(await response.text())
    assert set(body) >= {"settings", "tables", "next_payload"}
    assert AggregatedStats.model_validate_json(body["next_payload"])


async def test_delete_all(svc: RunningService, http: aiohttp.ClientSession) -> None:
    await post(http, svc.api("/events"), {"events": [JOB] * 3})
    await post(http, svc.api("/opt-in"), {})
    async with http.delete(svc.api("/delete-all")) as response:
        assert response.status == 200
        body = await response.json()
    assert body["deleted"] is True
    assert body["settings"]["opted_in"] is False
    assert body["settings"]["installation_id"] is None
    async with http.get(svc.api("/local")) as response:
        local = await response.json()
    assert local["total_events"] == 0
    assert sum(day["total"] for day in local["daily"]) == 0
    async with http.delete(svc.api("/delete-all?delete_remote=perhaps")) as response:
        assert response.status == 400


async def test_fleet_and_features(svc: RunningService, http: aiohttp.ClientSession) -> None:
    async with http.put(
        svc.api("/fleet"), json={"printers": {"bambu_lab": 2, "octoprint": 1}}
    ) as r:
        assert r.status == 200
        assert (await r.json())["printer_fleet"]["printer_count"] == 3
    async with http.get(svc.api("/fleet")) as r:
        assert (await r.json())["printer_fleet"]["printer_type_counts"] == {
            "bambu_lab": 2,
            "octoprint": 1,
        }
    for body in (
        {"printers": {"bambu_lab": -1}},
        {"printers": {"bambu_lab": "two"}},
        {},
        # Each family within bounds, together more than a report can carry (found by
        # schemathesis: it used to be stored and then break every report).
        {"printers": {"bambu_lab": 1000, "klipper": 956}},
    ):
        async with http.put(svc.api("/fleet"), json=body) as r:
            assert r.status == 400, body
    # Unknown families are refused, not counted as "unknown", and never repeated back.
    async with http.put(
        svc.api("/fleet"), json={"printers": {"bambu_lab": 1, "annas_printer": 2}}
    ) as r:
        assert r.status == 400
        text = await r.text()
    assert "annas_printer" not in text
    assert "entry number 2 of 2" in text and "klipper" in text
    async with http.put(svc.api("/features"), json={"features": {"auto_download": True}}) as r:
        assert r.status == 200
        assert await r.json() == {"features": {"auto_download": True}}
    async with http.put(
        svc.api("/features"), json={"features": {"timelapse": True, "Bad Name": True}}
    ) as r:
        assert r.status == 400
        assert "Bad Name" not in await r.text()
    async with http.put(svc.api("/features"), json={"features": {"x": "yes"}}) as r:
        assert r.status == 400
    async with http.get(svc.api("/preview")) as r:
        payload = await r.json()
    assert payload["usage_stats"]["feature_usage"] == {"auto_download": True}
    assert payload["printer_fleet"]["printer_count"] == 3


async def test_submit_now_needs_opt_in_and_sending(
    start_service, svc: RunningService, http: aiohttp.ClientSession
) -> None:
    sender = await start_service(submit=True, endpoint="http://127.0.0.1:9")
    async with http.post(sender.api("/submit-now")) as response:
        assert response.status == 409
        assert "opt in" in (await response.json())["error"]
    # --no-submit means nothing is sent, "send now" included.
    await post(http, svc.api("/opt-in"), {})
    async with http.post(svc.api("/submit-now")) as response:
        assert response.status == 409
        assert "--no-submit" in (await response.json())["error"]


async def test_unknown_paths_methods_and_guards(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    async with http.get(svc.api("/nothing-here")) as response:
        assert response.status == 404
        assert "api/v1/usage-stats" in (await response.json())["error"]
    async with http.get(svc.api("/opt-in")) as response:
        assert response.status == 405
    # Another site's page must not be able to flip the switch.
    async with http.post(svc.api("/opt-in"), headers={"Origin": "http://evil.example"}) as response:
        assert response.status == 403
    async with http.post(svc.api("/opt-in"), headers={"Origin": svc.url}) as response:
        assert response.status == 200
    # DNS rebinding: a foreign Host name is refused while bound to loopback.
    async with http.get(svc.api("/local"), headers={"Host": "attacker.example"}) as response:
        assert response.status == 421


async def test_blocked_by_environment(start_service, http: aiohttp.ClientSession) -> None:
    svc = await start_service(environ={"DO_NOT_TRACK": "1"})
    async with http.post(svc.api("/opt-in")) as response:
        assert (await response.json())["blocked_by_environment"] is True
    async with http.get(svc.api("/status")) as response:
        assert (await response.json())["state"] == "blocked"
    async with http.post(svc.api("/submit-now")) as response:
        assert response.status == 409
        assert "DO_NOT_TRACK" in (await response.json())["error"]
    async with http.get(f"{svc.url}/health") as response:
        assert (await response.json())["sharing"] == "blocked"


async def test_page_is_offline(svc: RunningService, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{svc.url}/") as response:
        assert response.status == 200
        html = await response.text()
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "http://" not in html and "https://" not in html
    for asset in (
        "/static/app.css",
        "/static/app.js",
        "/static/icon.svg",
        "/docs/static/openapi-docs.js",
        "/docs/static/openapi-docs.css",
    ):
        async with http.get(f"{svc.url}{asset}") as response:
            assert response.status == 200, asset
            text = await response.text()
            assert "https://" not in text and "//cdn" not in text, asset


async def test_hostile_json_is_a_400_with_a_sentence_on_every_json_route(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    routes = [
        ("POST", "/events"),
        ("POST", "/opt-in"),
        ("POST", "/opt-out"),
        ("PUT", "/fleet"),
        ("PUT", "/features"),
    ]
    bodies = {
        "nests deeper": "[" * 100_000,
        "deeply nested but closed": "[" * 40 + "]" * 40,
        "5,000 digits": '{"printers": {"klipper": ' + "9" * 5_000 + "}}",
        "a huge float": '{"event_type": "app_start", "metadata": {"uptime": 1e999}}',
        "NaN": '{"features": {"x": NaN}}',
    }
    for method, path in routes:
        for name, body in bodies.items():
            async with http.request(
                method, svc.api(path), data=body, headers={"Content-Type": "application/json"}
            ) as response:
                assert response.status == 400, (path, name)
                error = (await response.json())["error"]
            assert error.startswith("the body "), (path, name, error)
            assert "9999" not in error
