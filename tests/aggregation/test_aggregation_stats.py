"""The /stats endpoints: auth, k-suppression, latest-per-installation, versions, export."""

from __future__ import annotations

import csv
import io
import re
import uuid

from agg_payloads import payload
from conftest import ADMIN, ADMIN_KEY
from printernizer_usage_core.models import PrinterType
from quart import Quart

from aggregation.app import create_app
from aggregation.blueprints.stats import ROUTES


async def _submit(app: Quart, n: int, **kwargs) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    client = app.test_client()
    ids = []
    for _ in range(n):
        iid = uuid.uuid4()
        response = await client.post("/submit", json=payload(installation_id=iid, **kwargs))
        assert response.status_code == 201
        ids.append(iid)
    return ids


async def test_stats_need_the_admin(app: Quart) -> None:
    client = app.test_client()
    assert (await client.get("/stats/overview")).status_code == 401
    assert (await client.get("/stats/overview", headers={"X-API-Key": "x"})).status_code == 401
    assert (await client.get("/stats/overview", headers=ADMIN)).status_code == 200
    assert (
        await client.get("/stats/overview", headers={"X-API-Key": ADMIN_KEY})
    ).status_code == 200
    # The dashboard's sign-in opens the same API (a session is a server-side record: a cookie
    # that merely claims to be an admin's is not one).
    async with client.session_transaction() as session:
        session["admin"] = True
    assert (await client.get("/stats/overview")).status_code == 401
    login = await client.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await login.get_data(as_text=True))
    assert token
    form = {"api_key": ADMIN_KEY, "csrf_token": token.group(1)}
    assert (await client.post("/dashboard/login", form=form)).status_code == 302
    assert (await client.get("/stats/overview")).status_code == 200


async def test_stats_503_without_api_key(make_settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(api_key=""))
    async with app.test_app():
        response = await app.test_client().get("/stats/summary", headers=ADMIN)
        assert response.status_code == 503
        assert (await response.get_json())["error"] == "admin API disabled: set API_KEY"


async def test_every_endpoint_answers(app: Quart) -> None:
    await _submit(app, 6, errors={"TimeoutError": 2})
    client = app.test_client()
    for path in [*ROUTES, "export"]:
        response = await client.get(f"/stats/{path}?days=60", headers=ADMIN)
        assert response.status_code == 200, path
        assert (await response.get_json())["window_days"] in (60, 63)
    for bad in ("0", "abc", "100000", "-1"):
        response = await client.get(f"/stats/summary?days={bad}", headers=ADMIN)
        assert response.status_code == 400


async def test_k_suppression_folds_small_buckets(app: Quart) -> None:
    await _submit(app, 5, mode="docker", country="DE", app_version="2.1.0")
    await _submit(app, 2, mode="pi", country="FR", app_version="2.2.0")
    await _submit(app, 1, mode="standalone", country="IT", app_version="2.3.0-dev")
    stats = app.config["STATS"]
    modes = (await stats.deployment_modes(30))["modes"]
    assert modes == [
        {"mode": "docker", "installations": 5, "share": 0.625},
        {"mode": "other", "installations": 3, "share": 0.375},
    ]
    countries = {c["country"] for c in (await stats.geography(30))["countries"]}
    assert countries == {"DE", "other"}
    versions = await stats.versions(30)
    # Highest *visible* version; the single 2.3.0-dev and the two 2.2.0 are folded away.
    assert versions["latest"] == "2.1.0"
    assert [v["version"] for v in versions["adoption"]] == ["2.1.0", "other"]


async def test_latest_is_highest_version_not_most_common(app: Quart) -> None:
    await _submit(app, 8, app_version="2.9.1")
    await _submit(app, 5, app_version="2.10.0")
    versions = await app.config["STATS"].versions(30)
    assert versions["latest"] == "2.10.0"
    assert versions["on_latest"] == 5
    assert [v["version"] for v in versions["adoption"]] == ["2.10.0", "2.9.1"]


async def test_latest_submission_per_installation(app: Quart) -> None:
    client = app.test_client()
    ids = [uuid.uuid4() for _ in range(5)]
    for iid in ids:
        await client.post(
            "/submit", json=payload(installation_id=iid, weeks_ago=1, app_version="2.0.0")
        )
        await client.post("/submit", json=payload(installation_id=iid, app_version="2.1.0"))
    # A late back-fill of an older week must not replace the latest report.
    await client.post(
        "/submit", json=payload(installation_id=ids[0], weeks_ago=2, app_version="1.0.0")
    )
    versions = await app.config["STATS"].versions(30)
    assert versions["installations"] == 5
    assert versions["adoption"] == [{"version": "2.1.0", "installations": 5, "share": 1.0}]


async def test_features_errors_printers(app: Quart) -> None:
    await _submit(
        app,
        6,
        features={"auto_job_creation": True, "library": False},
        errors={"TimeoutError": 2, "ValueError": 0},
        printers={PrinterType.BAMBU_LAB: 2, PrinterType.PRUSA_CORE: 1},
    )
    await _submit(app, 5, features={"auto_job_creation": False, "library": False}, printers={})
    stats = app.config["STATS"]
    features = {f["feature"]: f for f in (await stats.features(30))["features"]}
    assert features["auto_job_creation"]["enabled_rate"] == round(6 / 11, 4)
    assert features["library"]["enabled_rate"] == 0.0
    errors = (await stats.errors(30))["errors"]
    # Counted only where > 0: ValueError (always 0) does not appear.
    assert errors == [
        {
            "error_type": "TimeoutError",
            "installations": 6,
            "occurrences": 12,
            "share": round(6 / 11, 4),
        }
    ]
    printers = await stats.printers(30)
    assert printers["printers"] == 18
    types = {t["key"]: t for t in printers["types"]}
    assert types["bambu_lab"]["printers"] == 12
    sizes = {s["key"]: s["installations"] for s in printers["fleet_sizes"]}
    assert sizes == {"2-3": 6, "0": 5}


async def test_installations_trend_and_growth(app: Quart) -> None:
    client = app.test_client()
    for i in range(10):
        iid = uuid.uuid4()
        if i < 6:
            await client.post("/submit", json=payload(installation_id=iid, weeks_ago=1))
        await client.post("/submit", json=payload(installation_id=iid))
    result = await app.config["STATS"].installations(30)
    assert result["total"] == 10
    assert result["active_7d"] == 10
    assert result["active_30d"] == 10
    assert len(result["daily"]) == 30
    assert sum(d["submissions"] for d in result["daily"]) == 16
    assert sum(d["new_installations"] for d in result["daily"]) == 10


async def test_export_json_and_csv(app: Quart) -> None:
    await _submit(app, 5)
    client = app.test_client()
    data = await (await client.get("/stats/export", headers=ADMIN)).get_json()
    assert data["summary"]["active_30d"] == 5
    response = await client.get("/stats/export?format=csv", headers=ADMIN)
    assert response.status_code == 200
    assert response.content_type.startswith("text/csv")
    rows = list(csv.reader(io.StringIO((await response.get_data()).decode())))
    assert rows[0] == ["section", "key", "installations", "value"]
    assert ["deployment_mode", "docker", "5", "1.0"] in rows
    assert (await client.get("/stats/export?format=xml", headers=ADMIN)).status_code == 400
