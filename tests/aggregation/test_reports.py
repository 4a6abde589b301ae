"""Reports: content on generated data, on-demand endpoints, the schedule and e-mail delivery."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import ADMIN
from quart import Quart
from test_reports_email import SmtpSink, smtp_sink  # noqa: F401 - fixture re-export

from aggregation import reports
from aggregation.app import create_app
from aggregation.demo_data import DemoOptions, generate_history, load_into_repository
from aggregation.settings import Settings


async def _load_demo(app: Quart, **options: object) -> None:
    history = generate_history(DemoOptions(**options))  # type: ignore[arg-type]
    await load_into_repository(app.config["REPOSITORY"], history)


def _last(kind: reports.Kind) -> reports.ReportPeriod:
    return reports.last_complete_period(kind, datetime.now(UTC).date())


async def test_weekly_report_content(app: Quart) -> None:
    await _load_demo(app)
    period = _last("weekly")
    report = await reports.build_report(app.config["STATS"], period, datetime.now(UTC))
    head = report["headline"]
    assert head["installations_known"] == 60
    assert head["active_in_period"] > 40
    assert head["latest_version"] == "1.6.0"
    assert head["growth_over_previous_period"] is not None
    assert report["period"] == {
        "label": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "last_day": (period.end - timedelta(days=1)).isoformat(),
        "days": 7,
        "rule": "a stored report counts when the last day it covers falls in the period",
    }
    assert {m["mode"] for m in report["deployment_modes"]} >= {"homeassistant", "docker"}
    assert all(c["installations"] >= 5 for c in report["geography"] if c["country"] != "other")
    assert any(a["subject"] == "MQTTDisconnectError" for a in report["anomalies"])
    markdown = reports.render_markdown(report)
    assert markdown.startswith(f"# Printernizer usage: weekly report {period.label}")
    assert f"ISO week {period.label}, Monday to Sunday" in markdown
    for heading in ("## Headline", "## Anomalies", "## Versions", "## Features", "## Errors"):
        assert heading in markdown
    assert "Countries reporting / named (≥ 5 installations each)" in markdown
    assert "MQTTDisconnectError" in markdown
    assert "| 1.6.0 |" in markdown
    json.loads(reports.to_json(report))


async def test_report_without_anomalies_says_so(app: Quart) -> None:
    await _load_demo(app, spike_week=None)
    period = _last("monthly")
    report = await reports.build_report(app.config["STATS"], period, datetime.now(UTC))
    assert report["period"]["days"] == (period.end - period.start).days
    assert not [a for a in report["anomalies"] if a["kind"] == "error_spike"]
    assert "None: error rates" in reports.render_markdown(report)


async def test_empty_database_report(app: Quart) -> None:
    report = await reports.build_report(app.config["STATS"], _last("weekly"), datetime.now(UTC))
    assert report["headline"]["installations_known"] == 0
    assert "_No data for this period._" in reports.render_markdown(report)


async def test_on_demand_endpoints(app: Quart) -> None:
    await _load_demo(app, installations=20, weeks=6)
    client = app.test_client()
    md = await client.get("/dashboard/reports/weekly.md", headers=ADMIN)
    assert md.status_code == 200
    assert md.headers["Content-Type"].startswith("text/markdown")
    text = await md.get_data(as_text=True)
    assert f"# Printernizer usage: weekly report {_last('weekly').label}" in text
    js = await client.get("/dashboard/reports/monthly.json", headers=ADMIN)
    assert (await js.get_json())["period"]["label"] == _last("monthly").label
    assert (await client.get("/dashboard/reports/daily.md", headers=ADMIN)).status_code == 404
    assert (await client.get("/dashboard/reports/weekly.pdf", headers=ADMIN)).status_code == 404


async def test_report_for_any_past_period(app: Quart) -> None:
    await _load_demo(app, installations=20, weeks=10)
    client = app.test_client()
    older = reports.previous_period(reports.previous_period(_last("weekly")))
    resp = await client.get(f"/dashboard/reports?period={older.label}&format=json", headers=ADMIN)
    assert resp.status_code == 200, await resp.get_data(as_text=True)
    body = await resp.get_json()
    assert body["period"]["start"] == older.start.isoformat()
    assert body["kind"] == "weekly"
    month = reports.previous_period(_last("monthly"))
    resp = await client.get(f"/dashboard/reports/monthly.md?period={month.label}", headers=ADMIN)
    assert f"calendar month {month.label}" in await resp.get_data(as_text=True)
    running = datetime.now(UTC).date().isocalendar()
    for bad, reason in (
        (f"{running.year}-W{running.week:02d}", "has not ended yet"),
        ("2026-W54", "not an ISO week"),
        ("2019-W10", "older than RETENTION_DAYS"),
        ("2026-13", "names its period like"),
        ("last week", "names its period like"),
    ):
        resp = await client.get(f"/dashboard/reports?period={bad}", headers=ADMIN)
        assert resp.status_code == 400, bad
        assert reason in (await resp.get_json())["error"]
    assert (await client.get("/dashboard/reports", headers=ADMIN)).status_code == 400
    assert (await client.get(f"/dashboard/reports?period={older.label}")).status_code == 401


async def _wait_for(path: Path, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await asyncio.to_thread(path.exists):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} was not written")


async def test_scheduled_report_is_written_and_mailed(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    smtp_sink: SmtpSink,  # noqa: F811
) -> None:
    reports_dir = tmp_path / "scheduled"
    settings = make_settings(
        report_schedule="both",
        reports_dir=str(reports_dir),
        demo_data=True,
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        smtp_from="stats@example.org",
        report_email_to="maintainer@example.org",
    )
    application = create_app(settings)
    now = datetime.now(UTC)
    weekly = reports.last_complete_period("weekly", (now - reports.SCHEDULE_OFFSET).date())
    monthly = reports.last_complete_period("monthly", (now - reports.SCHEDULE_OFFSET).date())
    async with application.test_app():
        await _wait_for(reports_dir / f"{monthly.stem}.md")
        await _wait_for(reports_dir / f"{weekly.stem}.md")
        await asyncio.wait_for(smtp_sink.received.wait(), 15)
        for _ in range(300):
            if len(_subjects(smtp_sink, "Printernizer ")) == 2:
                break
            await asyncio.sleep(0.05)
    data = json.loads((reports_dir / f"{weekly.stem}.json").read_text())
    assert data["period"]["label"] == weekly.label
    assert data["headline"]["installations_known"] == 60
    assert (reports_dir / f"{weekly.stem}.md").read_text().startswith("# Printernizer usage")
    assert not list(reports_dir.glob("*.tmp")), "written atomically"
    for _, _, raw in smtp_sink.messages:
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert mail.get_body(preferencelist=("plain",)) is not None
        assert mail.get_body(preferencelist=("html",)) is not None, "HTML beside the text"
    assert _subjects(smtp_sink, "Printernizer ") == sorted(
        [
            f"Printernizer weekly report {weekly.label}",
            f"Printernizer monthly report {monthly.label}",
        ]
    )


def _subjects(sink: SmtpSink, prefix: str) -> list[str]:
    """Subjects of the report mails received (alerts for the demo's spike arrive too)."""
    subjects = (
        str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]).strip()
        for _, _, raw in sink.messages
    )
    return sorted(s for s in subjects if s.startswith(prefix) and " report " in s)


async def test_scheduler_does_not_rewrite_existing_reports(app: Quart, tmp_path: Path) -> None:
    settings = app.config["SETTINGS"].with_changes(
        report_schedule="weekly", reports_dir=str(tmp_path / "r")
    )
    scheduler = reports.ReportScheduler(app.config["STATS"], settings)
    first = await scheduler.run_due()
    assert len(first) == 2
    assert await scheduler.run_due() == []
    off = reports.ReportScheduler(app.config["STATS"], settings.with_changes(report_schedule="off"))
    assert not off.enabled
    off.start()  # nothing scheduled: no task
    await off.stop()
