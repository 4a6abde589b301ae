"""Turns the stats service's answers into the dashboard's charts, KPIs and anomaly cards."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from .. import rollups as r
from ..reports import ended_week_growth
from ..rollups import iso_day, week_of
from .spec import Anomaly, Chart, ChartKind, Dashboard, Kpi, Number, Series

# Current-state charts use the last 30 days; trends use the last 12 weeks.
WINDOW_DAYS = 30
TREND_DAYS = 84
TOP_ERRORS = 6
CHART_IDS = (
    "installations_over_time",
    "active_installations",
    "weekly_growth",
    "deployment_modes",
    "version_adoption",
    "version_migration",
    "geography",
    "printer_types",
    "fleet_sizes",
    "feature_usage",
    "feature_trends",
    "error_types",
    "error_rate_trend",
    "anomalies",
    "kpis",
)
ANOMALY_TITLES = {
    "error_spike": "Error spike",
    "active_drop": "Drop in active installations",
    "submission_volume": "Unusual submission volume",
}


def _pct(value: float | None) -> Number:
    return None if value is None else round(value * 100, 1)


def _buckets(
    chart_id: str,
    title: str,
    kind: ChartKind,
    items: list[dict[str, Any]],
    key: str,
    *,
    subtitle: str,
    value: str = "installations",
    series: str = "Installations",
) -> Chart:
    """A single-series chart of stats buckets (label from `key`, number from `value`)."""
    return Chart(
        id=chart_id,
        title=title,
        kind=kind,
        subtitle=subtitle,
        labels=[str(item[key]) for item in items],
        series=[Series(series, [item[value] for item in items])],
        label_header=key if key != "key" else chart_id,
    )


def _ended(week_label: str, today: date) -> bool:
    return date.fromisoformat(week_label) + timedelta(days=7) <= today


async def _error_trend(repository: Any, today: int, k: int) -> tuple[list[str], list[Series]]:
    """Weekly share of reporting installations hit by each error type (k-suppressed).

    The stats service has no weekly error series, so this reads the same weekly rollup the
    anomaly detector reads. A week where 1 to k-1 installations saw an error is marked
    suppressed; a week where none did is 0 %; a week nobody reported in has no value.
    """
    first = week_of(today - TREND_DAYS)
    weeks = [w for w in range(first, week_of(today) + 1, 7) if w + 7 <= today]
    rows = await repository.weekly_rollup(first, (r.ALL, r.ERROR))
    active: dict[int, int] = {}
    affected: dict[str, dict[int, int]] = defaultdict(dict)
    for row in rows:
        if row.dim == r.ALL:
            active[row.week] = row.installations
        else:
            affected[row.key][row.week] = row.installations
    ranked = sorted(affected, key=lambda name: -sum(affected[name].values()))
    series: list[Series] = []
    for name in ranked:
        hits = [affected[name].get(w, 0) for w in weeks]
        hidden = [0 < hit < k for hit in hits]
        values: list[Number] = [
            round(100 * hit / active[w], 1) if active.get(w) and not small else None
            for w, hit, small in zip(weeks, hits, hidden, strict=True)
        ]
        if any(hit >= k for hit in hits):
            series.append(Series(name, values, hidden))
        if len(series) == TOP_ERRORS:
            break
    return [iso_day(w) for w in weeks], series


def _anomalies(found: list[dict[str, Any]]) -> list[Anomaly]:
    cards = []
    for item in found:
        kind = str(item["kind"])
        percent = kind == "error_spike" and item.get("measure") == "share"

        def show(value: Any, percent: bool = percent) -> str:
            return f"{value * 100:.1f} %" if percent else f"{value:g}"

        title = ANOMALY_TITLES.get(kind, kind.replace("_", " ").capitalize())
        if item.get("subject"):
            title = f"{title}: {item['subject']}"
        numbers = [
            ("period", str(item["period"])),
            ("observed", show(item["value"])),
            ("baseline", show(item["baseline"])),
            ("threshold", show(item["threshold"])),
        ]
        if item.get("installations"):
            numbers.append(("installations", str(item["installations"])))
        cards.append(
            Anomaly(
                kind=kind,
                title=title,
                severity=str(item.get("severity", "warning")),
                message=str(item.get("message", "")),
                numbers=numbers,
            )
        )
    return cards


async def build_dashboard(stats: Any, repository: Any) -> Dashboard:
    """Every chart, KPI and anomaly the page shows, from one round of stats calls."""
    (
        inst,
        modes,
        versions,
        migration,
        geo,
        printers,
        features,
        trends,
        errors,
        anomalies,
    ) = await asyncio.gather(
        stats.installations(TREND_DAYS),
        stats.deployment_modes(WINDOW_DAYS),
        stats.versions(WINDOW_DAYS),
        stats.version_migration(TREND_DAYS),
        stats.geography(WINDOW_DAYS),
        stats.printers(WINDOW_DAYS),
        stats.features(WINDOW_DAYS),
        stats.feature_trends(TREND_DAYS),
        stats.errors(WINDOW_DAYS),
        stats.anomalies(TREND_DAYS),
    )
    now = datetime.fromisoformat(inst["generated_at"]).astimezone(UTC)
    today = now.date()
    k = inst["k_anonymity"]
    charts = [
        *_installation_charts(inst, today),
        _deployment_chart(modes),
        *_version_charts(versions, migration),
        _geography_chart(geo),
        *_printer_charts(printers),
        *_feature_charts(features, trends, today, k),
        _error_chart(errors),
    ]
    labels, series = await _error_trend(repository, today.toordinal(), k)
    charts.append(
        _trend_chart(
            "error_rate_trend",
            "Error-rate trend",
            "Share of reporting installations hit by each error type, per week",
            labels,
            series,
            k=k,
            wide=True,
        )
    )
    return Dashboard(
        subtitle=(
            f"Last {WINDOW_DAYS} days (trends: {TREND_DAYS // 7} weeks) · "
            f"updated {now.strftime('%Y-%m-%d %H:%M')} UTC"
        ),
        kpis=_kpis(inst, versions, today),
        charts=charts,
        anomalies=_anomalies(anomalies["anomalies"]),
    )


def _kpis(inst: dict[str, Any], versions: dict[str, Any], today: date) -> list[Kpi]:
    last, previous, growth = ended_week_growth(inst, today)
    trend: Literal["up", "down"] | None = None
    if growth:
        trend = "up" if growth > 0 else "down"
    return [
        Kpi("installations", "Installations", inst["total"], "known, all time"),
        Kpi(
            "active",
            "Active (7 d)",
            inst["active_7d"],
            f"{inst['active_30d']} active in 30 days",
            details=[("Active (30 d)", inst["active_30d"])],
        ),
        Kpi(
            "growth",
            "Week over week",
            _pct(growth),
            f"{last} vs {previous} installations reporting",
            unit="%",
            trend=trend,
            details=[
                ("Reporting in the last week that ended", last),
                ("Reporting in the week before", previous),
            ],
        ),
        Kpi(
            "latest_version",
            "Latest version",
            versions["latest"] or "n/a",
            f"{_pct(versions['on_latest_share'])} % of active installations run it",
        ),
    ]


def _installation_charts(inst: dict[str, Any], today: date) -> list[Chart]:
    weekly = [w for w in inst["weekly_active"] if _ended(w["week"], today)]
    labels = [w["week"] for w in weekly]
    # Known installations at the end of each week: today's total minus those first seen later.
    new_by_day = {d["day"]: d["new_installations"] for d in inst["daily"]}
    known = []
    for label in labels:
        # A week's reports arrive on the day after it ends; count that day with the week.
        end = (date.fromisoformat(label) + timedelta(days=7)).isoformat()
        later = sum(n for day, n in new_by_day.items() if day > end)
        known.append(inst["total"] - later)
    growth: list[Number] = [None]
    for prev, cur in itertools.pairwise(weekly):
        before = prev["installations"]
        growth.append(round(100 * (cur["installations"] - before) / before, 1) if before else None)
    return [
        Chart(
            id="installations_over_time",
            title="Installations over time",
            subtitle="Known installations and installations reporting each week",
            kind="line",
            labels=labels,
            series=[
                Series("Known installations", known),
                Series("Reporting that week", [w["installations"] for w in weekly]),
            ],
            wide=True,
            label_header="week",
        ),
        Chart(
            id="active_installations",
            title="Active installations",
            subtitle="Installations with a report in the last 7 and 30 days",
            kind="hbar",
            labels=["Known (all time)", "Active 30 days", "Active 7 days"],
            series=[
                Series("Installations", [inst["total"], inst["active_30d"], inst["active_7d"]])
            ],
        ),
        Chart(
            id="weekly_growth",
            title="Week-over-week growth",
            subtitle="Change in reporting installations against the week before",
            kind="bar",
            unit="%",
            labels=labels,
            series=[Series("Growth", growth)],
            label_header="week",
        ),
    ]


def _deployment_chart(modes: dict[str, Any]) -> Chart:
    return _buckets(
        "deployment_modes",
        "Deployment modes",
        "doughnut",
        modes["modes"],
        "mode",
        subtitle=f"{modes['installations']} installations active in the window",
    )


def _version_charts(versions: dict[str, Any], migration: dict[str, Any]) -> list[Chart]:
    adoption = _buckets(
        "version_adoption",
        "Version adoption",
        "hbar",
        versions["adoption"],
        "version",
        subtitle=(
            f"Latest: {versions['latest'] or 'n/a'} · {_pct(versions['on_latest_share'])} % on it"
        ),
    )
    weeks = [w for w in migration["weeks"] if w["installations"]]
    names: list[str] = []
    for week in weeks:
        for item in week["versions"]:
            if item["version"] not in names:
                names.append(item["version"])
    names.sort(key=lambda v: (v == "other", r.version_key(v) if v != "other" else ()))
    shares = [{i["version"]: i["share"] for i in week["versions"]} for week in weeks]
    return [
        adoption,
        Chart(
            id="version_migration",
            title="Version migration",
            subtitle="Share of each week's reports by app version",
            kind="area",
            unit="%",
            stacked=True,
            labels=[w["week"] for w in weeks],
            # A version missing from a week was not reported separately (folded into "other"
            # or absent): drawn as 0 in the stack, blank in the CSV.
            series=[
                Series(
                    name,
                    [_pct(s.get(name, 0.0)) for s in shares],
                    [name not in s for s in shares],
                )
                for name in names
            ],
            wide=True,
            label_header="week",
        ),
    ]


def _geography_chart(geo: dict[str, Any]) -> Chart:
    return _buckets(
        "geography",
        "Geography",
        "hbar",
        geo["countries"][:15],
        "country",
        subtitle="Country from the time zone setting, never from an address",
    )


def _printer_charts(printers: dict[str, Any]) -> list[Chart]:
    sizes = printers["fleet_sizes"]  # smallest fleets first, ranges merged to k or more
    return [
        Chart(
            id="printer_types",
            title="Printer types",
            kind="hbar",
            subtitle=(
                f"{printers['printers']} printers · {printers['per_installation']} per installation"
            ),
            labels=[t["key"] for t in printers["types"]],
            series=[
                Series("Installations", [t["installations"] for t in printers["types"]]),
                Series("Printers", [t["printers"] for t in printers["types"]]),
            ],
            label_header="printer_type",
        ),
        _buckets(
            "fleet_sizes",
            "Fleet sizes",
            "bar",
            sizes,
            "key",
            subtitle="Installations by number of printers (ranges joined up to k installations)",
        ),
    ]


def _trend_chart(
    chart_id: str,
    title: str,
    subtitle: str,
    labels: list[str],
    series: list[Series],
    *,
    k: int,
    wide: bool = False,
) -> Chart:
    """A weekly line chart of percentages whose k-suppressed weeks are marked as suppressed.

    Every trend chart with k-suppressed weeks is made here, so a withheld week looks and
    exports the same everywhere and never reads as missing data: on the page a shaded band
    with a legend entry and a tooltip ("fewer than k installations"), the line dashed
    across it; in the JSON a null value with `suppressed: true`; in the CSV the word
    `suppressed`. A week without data stays a gap (null, not suppressed; a blank cell).
    """
    note = f"fewer than {k} installations"
    return Chart(
        id=chart_id,
        title=title,
        subtitle=f"{subtitle} (shaded: suppressed, {note})",
        kind="line",
        unit="%",
        labels=labels,
        series=series,
        wide=wide,
        label_header="week",
        suppressed_note=note,
    )


def _feature_charts(
    features: dict[str, Any], trends: dict[str, Any], today: date, k: int
) -> list[Chart]:
    shown = [f for f in features["features"] if f["enabled_rate"] is not None]
    # Only weeks that have ended: the running week has no reports yet.
    ended = [i for i, week in enumerate(trends["weeks"]) if _ended(week, today)]
    return [
        Chart(
            id="feature_usage",
            title="Feature usage",
            subtitle="Share of reporting installations with the feature enabled",
            kind="hbar",
            unit="%",
            labels=[f["feature"] for f in shown],
            series=[Series("Enabled", [_pct(f["enabled_rate"]) for f in shown])],
            label_header="feature",
        ),
        _trend_chart(
            "feature_trends",
            "Feature trends",
            "Enabled rate per week",
            [trends["weeks"][i] for i in ended],
            [
                Series(
                    f["feature"],
                    [_pct(f["points"][i]["enabled_rate"]) for i in ended],
                    [f["points"][i]["suppressed"] for i in ended],
                )
                for f in trends["features"]
            ],
            k=k,
        ),
    ]


def _error_chart(errors: dict[str, Any]) -> Chart:
    items = errors["errors"]
    return Chart(
        id="error_types",
        title="Error types",
        subtitle="Installations affected and occurrences in the window",
        kind="hbar",
        labels=[e["error_type"] for e in items],
        series=[
            Series("Installations affected", [e["installations"] for e in items]),
            Series("Occurrences", [e["occurrences"] for e in items]),
        ],
        label_header="error_type",
    )
