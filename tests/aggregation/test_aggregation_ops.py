"""Shared rate limit across instances, retention purge, health, metrics, OpenAPI, CORS, logs."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from agg_payloads import payload
from quart import Quart

from aggregation.app import create_app
from aggregation.retention import purge_once


async def test_rate_limit_shared_by_two_instances_on_one_database(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(rate_limit_per_hour=4)
    one, two = create_app(settings), create_app(settings)
    async with one.test_app(), two.test_app():
        iid = uuid.uuid4()
        codes = []
        for weeks_ago in range(6):
            target = one if weeks_ago % 2 == 0 else two
            body = payload(installation_id=iid, weeks_ago=weeks_ago)
            codes.append((await target.test_client().post("/submit", json=body)).status_code)
        assert codes == [201, 201, 201, 201, 429, 429]
        assert await one.config["REPOSITORY"].count_submissions(str(iid)) == 4


async def test_retention_purge(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(retention_days=60)
    app = create_app(settings)
    async with app.test_app():
        client = app.test_client()
        old, fresh = uuid.uuid4(), uuid.uuid4()
        for weeks_ago in (7, 8):  # ~50-56 days old: inside 60 days today
            await client.post("/submit", json=payload(installation_id=old, weeks_ago=weeks_ago))
        await client.post("/submit", json=payload(installation_id=fresh))
        repo = app.config["REPOSITORY"]
        nothing = await purge_once(repo, settings)
        assert nothing.submissions == 0
        # Three weeks later the old installation's reports are past the 60 days.
        later = datetime.now(UTC) + timedelta(days=21)
        result = await purge_once(repo, settings, now=later, metrics=app.config["METRICS"])
        assert result.submissions == 2
        assert result.installations == 1
        assert await repo.count_submissions(str(old)) == 0
        assert await repo.count_submissions(str(fresh)) == 1
        installations, _ = await repo.totals()
        assert installations == 1


async def test_health_checks_the_database(app: Quart) -> None:
    client = app.test_client()
    response = await client.get("/health")
    assert response.status_code == 200
    assert (await response.get_json())["database"] == "ok"
    await app.config["REPOSITORY"].close()
    down = await client.get("/health")
    assert down.status_code == 503
    assert (await down.get_json())["database"] == "down"


async def test_index_metrics_openapi_docs(app: Quart) -> None:
    client = app.test_client()
    assert (await client.get("/")).status_code == 200
    await client.post("/submit", json=payload())
    await client.post("/submit", data=b"{", headers={"Content-Type": "application/json"})
    text = (await (await client.get("/metrics")).get_data()).decode()
    assert 'aggregation_submissions_total{outcome="accepted",reason=""} 1.0' in text
    assert 'aggregation_submissions_total{outcome="rejected",reason="malformed_json"} 1.0' in text
    assert 'aggregation_requests_total{method="POST",route="/submit",status="201"} 1.0' in text
    assert "aggregation_request_duration_seconds_bucket" in text
    assert "aggregation_rows_stored_total 1.0" in text
    assert "127.0.0.1" not in text
    spec = await (await client.get("/openapi.json")).get_json()
    assert "/submit" in spec["paths"]
    assert "/stats/overview" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    page = await docs.get_data(as_text=True)
    # The docs page must work offline: the viewer is served by the app, nothing from a CDN.
    assert "openapi-docs.js" in page
    assert "https://" not in page and "http://" not in page
    assert (await client.get("/docs/static/openapi-docs.js")).status_code == 200


async def test_cors_for_allowed_origins_only(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(allowed_origins=("https://printernizer.example",)))
    async with app.test_app():
        client = app.test_client()
        ok = await client.options(
            "/submit",
            headers={
                "Origin": "https://printernizer.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert ok.headers["Access-Control-Allow-Origin"] == "https://printernizer.example"
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers


async def test_request_log_has_no_address_and_no_payload(
    app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aggregation")
    body = payload(country="NL", app_version="7.7.7")
    await app.test_client().post("/submit", json=body, headers={"X-Forwarded-For": "203.0.113.9"})
    lines = [r for r in caplog.records if r.name == "aggregation.access"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert fields["route"] == "/submit" and fields["status"] == 201
    text = caplog.text + json.dumps(fields)
    for secret in ("127.0.0.1", "203.0.113.9", body["installation"]["installation_id"], "7.7.7"):
        assert secret not in text
