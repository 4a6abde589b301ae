"""Every report figure recomputed from the stored submissions (raw rows, payload JSON)."""

from __future__ import annotations

import email
import email.policy
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from typing import Any

import pytest
from quart import Quart

from aggregation import reports
from aggregation.demo_data import DemoOptions, generate_history, load_into_repository
from aggregation.storage import analytics
from aggregation.storage.sql import SqlRepository

K = 5


async def _stored(app: Quart) -> list[tuple[str, int, int, dict[str, Any]]]:
    repo: SqlRepository = app.config["REPOSITORY"]
    async with repo._read() as tx:
        rows = await tx.fetch(
            "SELECT installation_id, period_start_day, period_end_day, payload FROM submissions"
        )
    return [(r[0], int(r[1]), int(r[2]), json.loads(r[3])) for r in rows]


def _expected(rows: list[tuple[str, int, int, dict[str, Any]]], start: int, end: int) -> dict:
    """The figures of [start, end) straight from the rows: a report counts when its last day
    (period_end_day - 1) falls in the period; state from each installation's newest one."""
    inside = [r for r in rows if start <= r[2] - 1 < end]
    newest: dict[str, tuple[int, int, dict[str, Any]]] = {}
    errors: dict[str, dict[str, int]] = defaultdict(dict)
    for iid, first, last, body in inside:
        if iid not in newest or (last, first) > newest[iid][:2]:
            newest[iid] = (last, first, body)
        for name, count in body["error_summary"].items():
            if count > 0:
                errors[name][iid] = errors[name].get(iid, 0) + count
    firsts: dict[str, int] = {}
    for iid, _, last, _ in rows:
        firsts[iid] = min(firsts.get(iid, last), last)
    state = [body for _, _, body in newest.values()]
    modes = Counter(b["installation"]["deployment_mode"] for b in state)
    versions = Counter(b["installation"]["app_version"] for b in state)
    countries = Counter(b["installation"]["country_code"] for b in state)
    small_errors = [name for name, hit in errors.items() if len(hit) < K]
    features: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for b in state:
        for name, enabled in b["usage_stats"]["feature_usage"].items():
            features[name][0] += 1
            features[name][1] += int(enabled)
    return {
        "submissions": len(inside),
        "active": len(newest),
        "new": sum(1 for day in firsts.values() if start < day <= end),
        "known": sum(1 for day in firsts.values() if day <= end),
        "modes": modes,
        "versions": versions,
        "countries": countries,
        "printers": sum(b["printer_fleet"]["printer_count"] for b in state),
        "errors": {name: (len(hit), sum(hit.values())) for name, hit in errors.items()},
        "errors_other": len({iid for name in small_errors for iid in errors[name]}),
        "errors_other_sum": sum(len(errors[name]) for name in small_errors),
        "features": features,
    }


def _check_buckets(reported: list[dict[str, Any]], name: str, counts: Counter[str]) -> None:
    shown = {item[name]: item["installations"] for item in reported}
    for key, count in counts.items():
        if count >= K:
            assert shown[key] == count, key
        else:
            assert key not in shown, f"{key} has {count} < k installations and must be folded"
    folded = sum(c for c in counts.values() if c < K)
    assert shown.get("other", 0) == folded


@pytest.mark.parametrize("which", ["weekly", "monthly", "previous-month"])
async def test_every_figure_matches_the_stored_submissions(app: Quart, which: str) -> None:
    # Periods end on a Thursday so reports straddle month and week edges.
    history = generate_history(DemoOptions(installations=45, weeks=14, end=date(2026, 11, 26)))
    await load_into_repository(app.config["REPOSITORY"], history)
    today = date(2026, 12, 2)
    kind: reports.Kind = "weekly" if which == "weekly" else "monthly"
    period = reports.last_complete_period(kind, today)
    if which == "previous-month":
        period = reports.previous_period(period)
    report = await reports.build_report(app.config["STATS"], period, datetime.now(UTC))
    rows = await _stored(app)
    start, end = period.start.toordinal(), period.end.toordinal()
    want = _expected(rows, start, end)
    before = reports.previous_period(period)
    head = report["headline"]
    assert want["submissions"] > 0
    assert head["submissions"] == want["submissions"]
    assert head["active_in_period"] == want["active"]
    assert head["new_installations"] == want["new"]
    assert head["installations_known"] == want["known"]
    assert head["countries_reporting"] == len(want["countries"])
    assert head["countries_named"] == sum(1 for c in want["countries"].values() if c >= K)
    previous = _expected(rows, before.start.toordinal(), before.end.toordinal())["active"]
    assert head["active_previous_period"] == previous
    if previous:
        growth = round((want["active"] - previous) / previous, 4)
        assert head["growth_over_previous_period"] == growth
    assert report["printers"]["printers"] == want["printers"]
    _check_buckets(report["deployment_modes"], "mode", want["modes"])
    _check_buckets(report["versions"], "version", want["versions"])
    _check_buckets(report["geography"], "country", want["countries"])
    shown = {e["error_type"]: e for e in report["errors"]}
    for name, (hit, total) in want["errors"].items():
        if hit >= K:
            assert (shown[name]["installations"], shown[name]["occurrences"]) == (hit, total)
    if want["errors_other"]:
        # Installations with several rare errors are counted once in "other".
        assert shown["other"]["installations"] == want["errors_other"]
        assert shown["other"]["installations"] <= want["active"]
    for feature in report["features"]:
        if feature["feature"] != "other":
            reporting, enabled = want["features"][feature["feature"]]
            assert feature["reporting"] == reporting
            assert feature["enabled"] in (None, enabled)
    assert sum(f["installations"] for f in report["printers"]["fleet_sizes"]) == want["active"]
    markdown = reports.render_markdown(report)
    assert f"Covers {period.start.isoformat()} to " in markdown
    assert f"| Reports for the period | {want['submissions']} |" in markdown
    assert f"| New installations (first report in the period) | {want['new']} |" in markdown


async def test_period_rule_excludes_neighbouring_reports(app: Quart) -> None:
    """A report whose last day is a Sunday belongs to that week; one ending on Monday to the
    next week, and to the month of that Monday."""
    from agg_payloads import make_stats
    from printernizer_usage_core.models import TimePeriod

    sunday_end = TimePeriod.from_days(date(2026, 11, 23), date(2026, 11, 30))
    monday_end = TimePeriod.from_days(date(2026, 11, 24), date(2026, 12, 1))
    reports_in = [make_stats(period=sunday_end) for _ in range(6)]
    reports_out = [make_stats(period=monday_end) for _ in range(4)]
    await load_into_repository(app.config["REPOSITORY"], reports_in + reports_out)
    week = reports.parse_period("weekly", "2026-W48")
    built = await reports.build_report(app.config["STATS"], week, datetime.now(UTC))
    assert built["headline"]["submissions"] == 6
    assert built["headline"]["active_in_period"] == 6
    nxt = reports.parse_period("weekly", "2026-W49")
    assert (
        await app.config["STATS"].period_active(nxt.start.toordinal(), nxt.end.toordinal())
    ) == 4
    month = reports.parse_period("monthly", "2026-11")
    built = await reports.build_report(app.config["STATS"], month, datetime.now(UTC))
    assert built["headline"]["submissions"] == 10  # both last days (29 and 30 Nov) are November
    december = reports.parse_period("monthly", "2026-12")
    assert await app.config["STATS"].period_active(december.start.toordinal(), 800_000) == 0


def test_email_has_text_and_html_parts_with_the_same_figures() -> None:
    settings = type(
        "S", (), {"smtp_from": "stats@example.org", "report_email_to": "a@example.org"}
    )()
    markdown = (
        "# Printernizer usage: weekly report 2026-W48\n\nCovers <dates>.\n\n## Headline\n\n"
        "| Figure | Value |\n|---|---|\n| Reports for the period | 51 |\n| A \\| B | x |\n\n"
        "- **error_spike** (2026-11-23): TimeoutError hit 30 %\n"
    )
    message = reports.build_email(settings, "Printernizer weekly report 2026-W48", markdown, {})
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content() == markdown
    page = html.get_content()
    assert "<td>Reports for the period</td><td>51</td>" in page
    assert "<td>A | B</td>" in page
    assert "Covers &lt;dates&gt;." in page, "text is escaped, never markup"
    assert "<li><strong>error_spike</strong> (2026-11-23): TimeoutError hit 30 %</li>" in page
    assert [p.get_filename() for p in parsed.iter_attachments()] == ["2026-W48.json"]


async def test_period_reports_come_in_pages_of_whole_installations(app: Quart) -> None:
    history = generate_history(DemoOptions(installations=12, weeks=6, end=date(2026, 11, 26)))
    await load_into_repository(app.config["REPOSITORY"], history)
    month = reports.parse_period("monthly", "2026-11")
    start, end = month.start.toordinal(), month.end.toordinal()
    pages = [
        page
        async for page in analytics.reports_ending_in(app.config["REPOSITORY"], start, end, page=5)
    ]
    assert len(pages) > 2
    seen: list[str] = []
    for page in pages:
        ids = [report.installation_id for report in page]
        assert ids == sorted(ids)
        assert not set(ids) & set(seen), "an installation's reports share one page"
        seen += list(dict.fromkeys(ids))
    flat = [(r.installation_id, r.period_start_day) for page in pages for r in page]
    want = sorted((r[0], r[1]) for r in await _stored(app) if start <= r[2] - 1 < end)
    assert sorted(flat) == want
