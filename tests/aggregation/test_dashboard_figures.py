"""Figures that must say what they count: exact windows, 'other' buckets, fleet ranges,
0 % weeks, suppressed weeks and the CSV downloads."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

from agg_payloads import make_stats
from conftest import ADMIN
from printernizer_usage_core.models import PrinterType, TimePeriod
from quart import Quart

from aggregation.demo_data import load_into_repository


def _ending(day: date) -> TimePeriod:
    return TimePeriod.from_days(day - timedelta(days=7), day)


async def _store(app: Quart, reports: list) -> None:  # type: ignore[type-arg]
    await load_into_repository(app.config["REPOSITORY"], reports)


async def _csv(app: Quart, chart: str) -> list[list[str]]:
    resp = await app.test_client().get(f"/dashboard/csv/{chart}", headers=ADMIN)
    assert resp.status_code == 200
    return list(csv.reader(io.StringIO(await resp.get_data(as_text=True))))


async def test_windows_are_exactly_n_days(app: Quart) -> None:
    today = datetime.now(UTC).date()
    # A report's day is the end of its period; today counts as day 1 of the window.
    await _store(app, [make_stats(period=_ending(today - timedelta(days=6))) for _ in range(3)])
    await _store(app, [make_stats(period=_ending(today - timedelta(days=7))) for _ in range(2)])
    await _store(app, [make_stats(period=_ending(today - timedelta(days=29))) for _ in range(4)])
    await _store(app, [make_stats(period=_ending(today - timedelta(days=30))) for _ in range(5)])
    summary = await app.config["STATS"].summary(30)
    assert summary["active_7d"] == 3
    assert summary["active_30d"] == 3 + 2 + 4
    daily = (await app.config["STATS"].installations(7))["daily"]
    assert len(daily) == 7 and daily[-1]["day"] == today.isoformat()


async def test_other_bucket_counts_installations_not_sums(app: Quart) -> None:
    rare = {"NozzleError": 1, "BedError": 2, "FanError": 1, "HeaterError": 3}
    # Three installations with four rare errors each, five with a common one.
    await _store(app, [make_stats(errors=rare) for _ in range(3)])
    await _store(app, [make_stats(errors={"TimeoutError": 2}) for _ in range(5)])
    families = {PrinterType.BAMBU_LAB: 1, PrinterType.PRUSA_CORE: 1, PrinterType.OCTOPRINT: 1}
    await _store(app, [make_stats(printers=families) for _ in range(2)])
    errors = {e["error_type"]: e for e in (await app.config["STATS"].errors(30))["errors"]}
    assert errors["TimeoutError"]["installations"] == 5
    assert errors["other"]["installations"] == 3, "each installation once"
    assert errors["other"]["occurrences"] == 3 * 7
    types = {t["key"]: t for t in (await app.config["STATS"].printers(30))["types"]}
    assert types["bambu_lab"]["installations"] == 10
    assert types["other"]["installations"] == 2
    assert types["other"]["printers"] == 4


async def test_fleet_sizes_say_which_range(app: Quart) -> None:
    sizes = [1] * 6 + [5] * 5 + [12] * 3 + [40] * 2
    await _store(app, [make_stats(printers={PrinterType.BAMBU_LAB: n}) for n in sizes])
    fleet = (await app.config["STATS"].printers(30))["fleet_sizes"]
    assert [(f["key"], f["installations"]) for f in fleet] == [("1", 6), ("4-10", 5), ("11+", 5)]
    rows = await _csv(app, "fleet_sizes")
    assert [row[0] for row in rows[1:]] == ["1", "4-10", "11+"]


async def test_flat_growth_is_a_chart_and_suppressed_weeks_are_marked(app: Quart) -> None:
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    ids = [uuid.uuid4() for _ in range(8)]
    reports = []
    for weeks_back in range(1, 6):
        end = monday - timedelta(days=7 * (weeks_back - 1))  # ends on a Monday: last day Sunday
        for n, iid in enumerate(ids):
            # TimeoutError: 6 installations in odd weeks, 2 (under k) in even ones.
            hit = n < (6 if weeks_back % 2 else 2)
            errors = {"TimeoutError": 1} if hit else {}
            reports.append(make_stats(iid, period=_ending(end), errors=errors))
    await _store(app, reports)
    data = await (await app.test_client().get("/dashboard/data.json", headers=ADMIN)).get_json()
    by_id = {c["id"]: c for c in data["charts"]}
    growth = by_id["weekly_growth"]
    assert [v for v in growth["series"][0]["values"] if v is not None] == [0.0] * 4
    assert growth["has_data"] is True, "0 % every week is data, not 'No data yet'"
    trend = by_id["error_rate_trend"]
    series = next(s for s in trend["series"] if s["name"] == "TimeoutError")
    shown = [v for v in series["values"] if v is not None]
    assert shown and all(v == 75.0 for v in shown)
    assert any(series["suppressed"]) and all(
        v is None
        for v, hidden in zip(series["values"], series["suppressed"], strict=True)
        if hidden
    )
    rows = await _csv(app, "error_rate_trend")
    assert rows[0] == ["week", "TimeoutError (%)"]
    cells = [row[1] for row in rows[1:]]
    assert set(cells) <= {"", "75.0", "suppressed"} and "suppressed" in cells


def suppressed_and_empty_weeks(today: date) -> list:  # type: ignore[type-arg]
    """Ten installations over six ended weeks (newest first): shown, suppressed, shown, no
    reports at all, suppressed, shown. Shown weeks: auto_job_creation enabled in 5 of 10 and
    TimeoutError in 6; suppressed weeks: 2 of each (under k = 5)."""
    monday = today - timedelta(days=today.weekday())
    ids = [uuid.uuid4() for _ in range(10)]
    reports = []
    for weeks_back, shown in ((1, True), (2, False), (3, True), (5, False), (6, True)):
        end = monday - timedelta(days=7 * (weeks_back - 1))
        for n, iid in enumerate(ids):
            errors = {"TimeoutError": 1} if n < (6 if shown else 2) else {}
            features = {"auto_job_creation": n < (5 if shown else 2)}
            reports.append(make_stats(iid, period=_ending(end), errors=errors, features=features))
    return reports


async def test_suppressed_weeks_are_not_missing_data(app: Quart) -> None:
    today = datetime.now(UTC).date()
    await _store(app, suppressed_and_empty_weeks(today))
    weeks = (await app.config["STATS"].feature_trends(84))["features"][0]["points"][-7:-1]
    assert [(p["enabled_rate"], p["suppressed"]) for p in weeks] == [
        (0.5, False),
        (None, True),
        (None, False),  # nobody reported: no data, not suppressed
        (0.5, False),
        (None, True),
        (0.5, False),
    ]
    assert [p["reporting"] for p in weeks] == [10, 10, 0, 10, 10, 10]
    data = await (await app.test_client().get("/dashboard/data.json", headers=ADMIN)).get_json()
    by_id = {c["id"]: c for c in data["charts"]}
    for chart_id, shown in (("feature_trends", 50.0), ("error_rate_trend", 60.0)):
        chart = by_id[chart_id]
        assert chart["suppressed_note"] == "fewer than 5 installations"
        assert "suppressed, fewer than 5 installations" in chart["subtitle"]
        series = chart["series"][0]
        pairs = list(zip(series["values"], series["suppressed"], strict=True))[-6:]
        assert pairs == [
            (shown, False),
            (None, True),
            (None, False),
            (shown, False),
            (None, True),
            (shown, False),
        ], chart_id
        rows = await _csv(app, chart_id)
        assert [row[1] for row in rows[-6:]] == [
            str(shown),
            "suppressed",
            "",
            str(shown),
            "suppressed",
            str(shown),
        ], chart_id


async def test_csv_units_blank_folded_versions_and_kpis(app: Quart) -> None:
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    reports = []
    for weeks_back in (1, 2):
        end = monday - timedelta(days=7 * (weeks_back - 1))
        version = "2.0.0" if weeks_back == 2 else "2.1.0"
        reports += [make_stats(period=_ending(end), app_version=version) for _ in range(6)]
        reports += [make_stats(period=_ending(end), app_version="1.9.0") for _ in range(2)]
    await _store(app, reports)
    migration = await _csv(app, "version_migration")
    assert migration[0][1:] == ["2.0.0 (%)", "2.1.0 (%)", "other (%)"]
    cells = {row[0]: row[1:] for row in migration[1:]}
    newest = max(cells)
    assert cells[newest][0] == "", "a version not reported that week is blank, not 0.0"
    assert cells[newest][1] == "75.0"
    types = await _csv(app, "printer_types")
    assert types[0] == ["printer_type", "Installations", "Printers"]
    kpis = {row[0]: row for row in await _csv(app, "kpis")}
    assert kpis["Active (30 d)"][1] == "16"
    assert kpis["Week over week"][2] == "%"
    assert (await _csv(app, "feature_usage"))[0] == ["feature", "Enabled (%)"]
