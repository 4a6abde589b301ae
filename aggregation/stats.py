"""The maintainer's statistics, computed from rollups and k-anonymised (small buckets → other)."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from printernizer_usage_core.models import UNKNOWN_VERSION, AggregatedStats
from pydantic import ValidationError

from . import anomalies as detect
from . import rollups as r
from .rollups import iso_day, today, version_key, week_of
from .settings import Settings
from .storage import analytics as store
from .storage.base import Contribution, Repository, RollupRow, WeeklyRow

_LOGGER = logging.getLogger(__name__)
OTHER = "other"
MULTI_VALUED = r.MULTI_VALUED
# Dimensions that count what happened (added up over a period), not a state (newest report).
EVENT_DIMS = frozenset({r.ERROR, r.USAGE})
STATS_NAMES = (
    "summary",
    "overview",
    "installations",
    "deployment_modes",
    "versions",
    "geography",
    "printers",
    "features",
    "errors",
    "version_migration",
    "feature_trends",
    "anomalies",
    "export",
)

# The sections of /stats/export: the summary and each dimension's answer (deployment modes
# through errors), each the answer of the method of that name.
EXPORT_SECTIONS = (
    "summary",
    *STATS_NAMES[STATS_NAMES.index("deployment_modes") : STATS_NAMES.index("errors") + 1],
)


class DaysError(ValueError):
    """A window that is not a whole number of days within the retention period."""


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class _Latest:
    """One latest_rollup read, indexed by dimension."""

    def __init__(self, rows: list[RollupRow]) -> None:
        self.by_dim: dict[str, dict[str, RollupRow]] = defaultdict(dict)
        # Distinct installations behind the folded buckets of multi-valued dimensions.
        self.other: dict[str, int] = {}
        for row in rows:
            self.by_dim[row.dim][row.key] = row

    def active(self) -> int:
        row = self.by_dim[r.ALL].get("")
        return row.installations if row else 0

    def dim(self, dim: str) -> dict[str, RollupRow]:
        return self.by_dim.get(dim, {})


def small_keys(counts: dict[str, RollupRow], k: int) -> list[str]:
    """The buckets `fold` puts into 'other'."""
    return sorted(
        key
        for key, row in counts.items()
        if row.installations > 0 and (row.installations < k or key == OTHER)
    )


class _PeriodRollup:
    """Rollup of one period's stored reports, fed page by page (each page ends with a whole
    installation): per installation, state from its newest report, events summed."""

    def __init__(self, k: int) -> None:
        self._k = k
        self.submissions = 0
        self._buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        # Installations per key of the multi-valued dimensions (to count a folded 'other').
        self._holders: dict[tuple[str, str], set[str]] = defaultdict(set)

    def add(self, page: list[store.StoredReport]) -> None:
        """Fold in a page of reports ordered by installation, then period."""
        state: dict[str, list[Contribution]] = {}
        events: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        for report in page:  # the newest report of an installation comes last
            self.submissions += 1
            try:
                rows = r.contributions(AggregatedStats.model_validate_json(report.payload))
            except ValidationError:
                # Accepted under an older schema: counted as a submission, nothing more.
                _LOGGER.warning("a stored report no longer parses; left out of the period")
                continue
            state[report.installation_id] = [c for c in rows if c[0] not in EVENT_DIMS]
            sums = events[report.installation_id]
            for dim, key, _, total in rows:
                if dim in EVENT_DIMS:
                    sums[(dim, key)] = sums.get((dim, key), 0) + total
        for installation, kept in state.items():
            counted = [(dim, key, count, total) for dim, key, count, total in kept]
            counted += [(dim, key, 1, total) for (dim, key), total in events[installation].items()]
            for dim, key, count, total in counted:
                cell = self._buckets[(dim, key)]
                cell[0] += count
                cell[1] += total
                if dim in MULTI_VALUED:
                    self._holders[(dim, key)].add(installation)

    def result(self) -> tuple[_Latest, int]:
        """(the period's rollup, distinct countries reporting)."""
        latest = _Latest([RollupRow(d, k, v[0], v[1]) for (d, k), v in self._buckets.items()])
        for dim in MULTI_VALUED:
            folded = small_keys(latest.dim(dim), self._k)
            if len(folded) > 1:
                holders = (self._holders[(dim, key)] for key in folded)
                latest.other[dim] = len(set().union(*holders))
        return latest, len(latest.dim(r.COUNTRY))


class StatsService:
    """Async stats methods returning plain JSON-able dicts (one per /stats endpoint)."""

    def __init__(
        self,
        repository: Repository,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._repo = repository
        self._k = settings.k_anonymity
        self._max_days = settings.retention_days
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- helpers -----------------------------------------------------------------------------

    def check_days(self, days: int | str | None, default: int = 30) -> int:
        """Validate a window in days (1 .. RETENTION_DAYS)."""
        if days is None:
            return min(default, self._max_days)
        text = str(days)
        # ASCII digits only: int() would also take " 7", "+7", "7_0" and non-ASCII digits
        # (the contract says integer; an empty value is not one).
        if not (text.isascii() and text.isdigit()) or len(text) > 6:
            raise DaysError(f"days must be a whole number from 1 to {self._max_days}")
        value = int(text)
        if not 1 <= value <= self._max_days:
            raise DaysError(f"days must be a whole number from 1 to {self._max_days}")
        return value

    def window_start(self, days: int) -> int:
        """First day of a window of exactly `days` days ending today (today counts)."""
        return self._today() - days + 1

    def _today(self) -> int:
        return today(self._clock())

    def fold(
        self, counts: dict[str, RollupRow], active: int, other_installations: int | None = None
    ) -> list[dict[str, Any]]:
        """Buckets sorted by size; every bucket under k installations is folded into 'other'.

        For a multi-valued dimension pass `other_installations`, the distinct installations
        behind the folded buckets: their sum would count an installation once per bucket.
        """
        kept: list[dict[str, Any]] = []
        other_inst = other_total = 0
        for key, row in counts.items():
            if row.installations <= 0:
                continue
            if row.installations < self._k or key == OTHER:
                other_inst += row.installations
                other_total += row.total
                continue
            kept.append({"key": key, "installations": row.installations, "total": row.total})
        kept.sort(key=lambda item: (-item["installations"], item["key"]))
        if other_inst and other_installations is not None:
            other_inst = other_installations
        if other_inst:
            kept.append({"key": OTHER, "installations": other_inst, "total": other_total})
        for item in kept:
            item["share"] = _share(item["installations"], active)
        return kept

    async def _latest(self, days: int) -> _Latest:
        since = self.window_start(days)
        latest = _Latest(await self._repo.latest_rollup(since))
        for dim in MULTI_VALUED:
            folded = small_keys(latest.dim(dim), self._k)
            if len(folded) > 1:  # one folded bucket is already a count of installations
                latest.other[dim] = await store.installations_with_any(
                    self._repo, since, dim, folded
                )
        return latest

    async def _weekly(self, days: int, dims: tuple[str, ...]) -> tuple[list[int], list[WeeklyRow]]:
        current = week_of(self._today())
        first = week_of(self.window_start(days))
        weeks = list(range(first, current + 1, 7))
        return weeks, await self._repo.weekly_rollup(first, dims)

    def _fold(self, latest: _Latest, dim: str) -> list[dict[str, Any]]:
        return self.fold(latest.dim(dim), latest.active(), latest.other.get(dim))

    # --- sections ----------------------------------------------------------------------------

    def _modes(self, latest: _Latest) -> list[dict[str, Any]]:
        return self.fold(latest.dim(r.MODE), latest.active())

    def _versions(self, latest: _Latest) -> dict[str, Any]:
        active = latest.active()
        adoption = self.fold(latest.dim(r.VERSION), active)
        # "unknown" (hosts that do not say their version) is a row of its own, never the latest.
        visible = [item["key"] for item in adoption if item["key"] not in (OTHER, UNKNOWN_VERSION)]
        # "Latest" is the highest version number among the reported (non-suppressed) versions,
        # not the most common one.
        latest_version = max(visible, key=version_key) if visible else None
        ordered = sorted(
            (i for i in adoption if i["key"] not in (OTHER, UNKNOWN_VERSION)),
            key=lambda i: version_key(i["key"]),
            reverse=True,
        ) + [i for i in adoption if i["key"] in (UNKNOWN_VERSION, OTHER)]
        on_latest = next((i["installations"] for i in ordered if i["key"] == latest_version), 0)
        return {
            "latest": latest_version,
            "on_latest": on_latest,
            "on_latest_share": _share(on_latest, active),
            "adoption": ordered,
            "python": self.fold(latest.dim(r.PYTHON), active),
            "schema": self.fold(latest.dim(r.SCHEMA), active),
        }

    def _printers(self, latest: _Latest) -> dict[str, Any]:
        active = latest.active()
        total_row = latest.dim(r.PRINTERS).get("")
        printers = total_row.total if total_row else 0
        return {
            "installations": active,
            "printers": printers,
            "per_installation": round(printers / active, 2) if active else 0.0,
            "types": [
                {**item, "printers": item.pop("total")}
                for item in self._fold(latest, r.PRINTER_TYPE)
            ],
            "fleet_sizes": self._fleet_sizes(latest.dim(r.FLEET_SIZE), active),
        }

    def _fleet_sizes(self, counts: dict[str, RollupRow], active: int) -> list[dict[str, Any]]:
        """Fleet-size buckets, smallest fleets first; a bucket under k installations is merged
        with its neighbours into a range that says what it holds ("11+", "2-10"), never
        into a vague "other"."""
        groups: list[tuple[int, int | None, int]] = []  # (lowest, highest or None, installations)
        for lowest, highest, label in reversed(r.FLEET_RANGES):
            row = counts.get(label)
            size = row.installations if row else 0
            if groups and groups[-1][2] < self._k:
                _, top, merged = groups.pop()
                groups.append((lowest, top, merged + size))
            elif size:  # an empty bucket hides nobody: it needs no neighbour
                groups.append((lowest, highest, size))
        if len(groups) > 1 and groups[-1][2] < self._k:  # the smallest fleets: join upward
            lowest, _, merged = groups.pop()
            _, top, size = groups.pop()
            groups.append((lowest, top, merged + size))
        if len(groups) == 1 and groups[0][2] < self._k:
            # Fewer than k installations in all: a label narrower than "any size" would say
            # what each of them has.
            groups = [(r.FLEET_RANGES[0][0], None, groups[0][2])]
        out = []
        for lowest, highest, size in reversed(groups):
            if highest is None:
                label = f"{lowest}+"
            else:
                label = str(lowest) if lowest == highest else f"{lowest}-{highest}"
            out.append({"key": label, "installations": size, "share": _share(size, active)})
        return out

    def _features(self, latest: _Latest) -> list[dict[str, Any]]:
        out = []
        for item in self._fold(latest, r.FEATURE):
            reporting, enabled = item["installations"], item["total"]
            # An enabled (or disabled) count under k is itself a small bucket: hide it. The
            # folded 'other' mixes features, so it has no enabled rate of its own.
            hidden = (
                item["key"] == OTHER or 0 < enabled < self._k or 0 < reporting - enabled < self._k
            )
            out.append(
                {
                    "feature": item["key"],
                    "reporting": reporting,
                    "enabled": None if hidden else enabled,
                    "enabled_rate": None if hidden else _share(enabled, reporting),
                    "suppressed": hidden,
                }
            )
        out.sort(key=lambda i: (i["feature"] == OTHER, -(i["enabled_rate"] or 0), i["feature"]))
        return out

    def _errors(self, latest: _Latest) -> list[dict[str, Any]]:
        return [
            {
                "error_type": item["key"],
                "installations": item["installations"],
                "occurrences": item["total"],
                "share": item["share"],
            }
            for item in self._fold(latest, r.ERROR)
        ]

    def _named(self, items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
        return [
            {name: i["key"], "installations": i["installations"], "share": i["share"]}
            for i in items
        ]

    async def _installations(self, latest: _Latest, days: int) -> dict[str, Any]:
        known, _ = await self._repo.totals()
        today_ = self._today()
        seven = _Latest(await self._repo.latest_rollup(self.window_start(7))).active()
        thirty = (
            latest.active()
            if days == 30
            else _Latest(await self._repo.latest_rollup(self.window_start(30))).active()
        )
        weeks, rows = await self._weekly(28, (r.ALL,))
        per_week = {row.week: row.installations for row in rows}
        complete = [w for w in weeks if w + 7 <= today_]  # weeks that have ended
        this = per_week.get(complete[-1], 0) if complete else 0
        prev = per_week.get(complete[-2], 0) if len(complete) > 1 else 0
        growth = round((this - prev) / prev, 4) if prev else None
        return {
            "total": known,
            "active_7d": seven,
            "active_30d": thirty,
            "active_window": latest.active(),
            "last_week": this,
            "previous_week": prev,
            "week_over_week_growth": growth,
        }

    # --- endpoints ---------------------------------------------------------------------------

    def _meta(self, days: int) -> dict[str, Any]:
        return {
            "window_days": days,
            "k_anonymity": self._k,
            "generated_at": self._clock().astimezone(UTC).replace(microsecond=0).isoformat(),
        }

    async def summary(self, days: int = 30) -> dict[str, Any]:
        """Headline numbers."""
        latest = await self._latest(days)
        installations = await self._installations(latest, days)
        _, submissions = await self._repo.totals()
        modes = self._modes(latest)
        countries = [
            c for c in self.fold(latest.dim(r.COUNTRY), latest.active()) if c["key"] != OTHER
        ]
        return {
            **self._meta(days),
            "installations_total": installations["total"],
            "active_7d": installations["active_7d"],
            "active_30d": installations["active_30d"],
            "active_window": latest.active(),
            "week_over_week_growth": installations["week_over_week_growth"],
            "submissions_total": submissions,
            "latest_version": self._versions(latest)["latest"],
            "countries": len(countries),
            "top_deployment_mode": modes[0]["key"] if modes and modes[0]["key"] != OTHER else None,
        }

    async def overview(self, days: int = 30) -> dict[str, Any]:
        """Everything at a glance, from one rollup read (the dashboard's first call)."""
        latest = await self._latest(days)
        installations = await self._installations(latest, days)
        versions = self._versions(latest)
        return {
            **self._meta(days),
            "installations": installations,
            "deployment_modes": self._named(self._modes(latest), "mode"),
            "versions": {
                "latest": versions["latest"],
                "on_latest_share": versions["on_latest_share"],
                "adoption": self._named(versions["adoption"][:10], "version"),
            },
            "geography": self._named(
                self.fold(latest.dim(r.COUNTRY), latest.active())[:10], "country"
            ),
            "printers": self._printers(latest),
            "features": self._features(latest)[:15],
            "errors": self._errors(latest)[:10],
        }

    async def installations(self, days: int = 30) -> dict[str, Any]:
        """Totals, active 7 d / 30 d, week-over-week growth and a daily trend."""
        latest = await self._latest(days)
        result = await self._installations(latest, days)
        start = self.window_start(days)
        activity = {a.day: a for a in await self._repo.daily_activity(start)}
        trend = []
        for day in range(start, self._today() + 1):
            a = activity.get(day)
            trend.append(
                {
                    "day": iso_day(day),
                    "submissions": a.submissions if a else 0,
                    "new_installations": a.new_installations if a else 0,
                }
            )
        weeks, rows = await self._weekly(max(days, 28), (r.ALL,))
        per_week = {row.week: row.installations for row in rows}
        return {
            **self._meta(days),
            **result,
            "daily": trend,
            "weekly_active": [
                {"week": iso_day(w), "installations": per_week.get(w, 0)} for w in weeks
            ],
        }

    async def deployment_modes(self, days: int = 30) -> dict[str, Any]:
        """Installations per deployment mode."""
        latest = await self._latest(days)
        return {
            **self._meta(days),
            "installations": latest.active(),
            "modes": self._named(self._modes(latest), "mode"),
            "platforms": self._named(
                self.fold(latest.dim(r.PLATFORM), latest.active()), "platform"
            ),
        }

    async def versions(self, days: int = 30) -> dict[str, Any]:
        """Version adoption; `latest` is the highest version, not the most common."""
        latest = await self._latest(days)
        v = self._versions(latest)
        return {
            **self._meta(days),
            "installations": latest.active(),
            "latest": v["latest"],
            "on_latest": v["on_latest"],
            "on_latest_share": v["on_latest_share"],
            "adoption": self._named(v["adoption"], "version"),
            "python": self._named(v["python"], "python"),
            "schema": self._named(v["schema"], "schema"),
        }

    async def geography(self, days: int = 30) -> dict[str, Any]:
        """Installations per country (from the time zone, never from an address)."""
        latest = await self._latest(days)
        return {
            **self._meta(days),
            "installations": latest.active(),
            "countries": self._named(self.fold(latest.dim(r.COUNTRY), latest.active()), "country"),
        }

    async def printers(self, days: int = 30) -> dict[str, Any]:
        """Fleet sizes and printer families."""
        latest = await self._latest(days)
        return {**self._meta(days), **self._printers(latest)}

    async def features(self, days: int = 30) -> dict[str, Any]:
        """Enabled rate of each feature among the installations reporting it."""
        latest = await self._latest(days)
        return {
            **self._meta(days),
            "installations": latest.active(),
            "features": self._features(latest),
        }

    async def errors(self, days: int = 30) -> dict[str, Any]:
        """Error types, counted only where they happened (> 0)."""
        latest = await self._latest(days)
        return {
            **self._meta(days),
            "installations": latest.active(),
            "errors": self._errors(latest),
        }

    async def version_migration(self, days: int = 84) -> dict[str, Any]:
        """Version shares week by week (reports per week)."""
        first = week_of(self.window_start(days))
        weeks = list(range(first, week_of(self._today()) + 1, 7))
        return {**self._meta(days), "weeks": await self._migration(weeks)}

    async def _migration(self, weeks: list[int]) -> list[dict[str, Any]]:
        """Version shares of the given weeks (ordinals of their Mondays)."""
        if not weeks:
            return []
        rows = await self._repo.weekly_rollup(weeks[0], (r.ALL, r.VERSION))
        totals: dict[int, int] = {}
        per_week: dict[int, dict[str, RollupRow]] = defaultdict(dict)
        for row in rows:
            if row.dim == r.ALL:
                totals[row.week] = row.installations
            else:
                per_week[row.week][row.key] = RollupRow(row.dim, row.key, row.installations, 0)
        out = []
        for w in weeks:
            total = totals.get(w, 0)
            folded = self.fold(per_week.get(w, {}), total)
            out.append(
                {
                    "week": iso_day(w),
                    "installations": total,
                    "versions": self._named(folded, "version"),
                }
            )
        return out

    async def feature_trends(self, days: int = 84) -> dict[str, Any]:
        """Enabled rate of each feature week by week.

        A week where the feature was reported, but by fewer than k installations or with an
        enabled (or disabled) group under k, is `suppressed: true` with no rate; a week where
        nobody reported it has no rate and is not suppressed (no data).
        """
        weeks, rows = await self._weekly(days, (r.FEATURE,))
        series: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
        for row in rows:
            series[row.key][row.week] = (row.installations, row.total)
        features = []
        for name in sorted(series):
            points = []
            for w in weeks:
                reporting, enabled = series[name].get(w, (0, 0))
                hidden = reporting > 0 and (
                    reporting < self._k
                    or 0 < enabled < self._k
                    or 0 < reporting - enabled < self._k
                )
                points.append(
                    {
                        "week": iso_day(w),
                        "reporting": reporting if reporting == 0 or reporting >= self._k else None,
                        "enabled_rate": (
                            _share(enabled, reporting) if reporting and not hidden else None
                        ),
                        "suppressed": hidden,
                    }
                )
            if any(p["enabled_rate"] is not None for p in points):
                features.append({"feature": name, "points": points})
        return {**self._meta(days), "weeks": [iso_day(w) for w in weeks], "features": features}

    async def anomalies(
        self, days: int = 84, *, until_day: int | None = None, check_weeks: int = 2
    ) -> dict[str, Any]:
        """Error spikes, drops in active installations and odd submission volume.

        The newest `check_weeks` weeks that ended before `until_day` (default today) are
        checked against the weeks before them; daily volume is checked over the same days.
        """
        end = self._today() if until_day is None else until_day
        last_week = week_of(end) - 7  # the newest week that has ended
        first = last_week - 7 * (detect.BASELINE_WEEKS + check_weeks - 1)
        first = min(first, week_of(end - max(days, 63)))
        weeks = list(range(first, last_week + 1, 7))
        rows = await self._repo.weekly_rollup(first, (r.ALL, r.ERROR))
        series = detect.weekly_series(weeks, [row for row in rows if row.week <= last_week])
        found = detect.detect_weekly(series, k=self._k, check_weeks=check_weeks)
        # A report checks every day of its weeks; the dashboard the last 7 days. Four weeks
        # of same-weekday baseline come before the first day checked.
        volume_weeks = 1 if until_day is None else check_weeks
        start = end - 7 * (4 + volume_weeks)
        per_day = {a.day: a.submissions for a in await self._repo.daily_activity(start)}
        day_range = list(range(start, end))  # the end day is not over yet
        found += detect.submission_volume(
            [iso_day(d) for d in day_range],
            [per_day.get(d, 0) for d in day_range],
            check_days=7 * volume_weeks,
        )
        return {
            **self._meta(days),
            "anomalies": [a.as_dict() for a in found],
            "weeks_checked": series.weeks[-check_weeks:],
        }

    async def period(self, start: int, end: int) -> dict[str, Any]:
        """Every section over the reports whose last day falls in [start, end), exactly.

        Per installation, state (mode, version, printers, features...) comes from its newest
        report in the period; errors and usage are added up over all its reports there.
        """
        new, known = await store.first_report_counts(self._repo, start, end)
        period = _PeriodRollup(self._k)
        async for page in store.reports_ending_in(self._repo, start, end):
            period.add(page)
        latest, countries = period.result()
        versions = self._versions(latest)
        return {
            "start": iso_day(start),
            "end": iso_day(end),
            "k_anonymity": self._k,
            "submissions": period.submissions,
            "active": latest.active(),
            "new_installations": new,
            "installations_known": known,
            "countries_reporting": countries,
            "deployment_modes": self._named(self._modes(latest), "mode"),
            "versions": {
                "latest": versions["latest"],
                "on_latest": versions["on_latest"],
                "on_latest_share": versions["on_latest_share"],
                "adoption": self._named(versions["adoption"], "version"),
            },
            "geography": self._named(self.fold(latest.dim(r.COUNTRY), latest.active()), "country"),
            "printers": self._printers(latest),
            "features": self._features(latest),
            "errors": self._errors(latest),
            # Weeks whose Sunday falls in the period (the weekly rollup's rule).
            "version_migration": await self._migration(
                [w for w in range(week_of(start), end, 7) if start <= w + 6 < end]
            ),
        }

    async def period_active(self, start: int, end: int) -> int:
        """Installations with a report whose last day falls in [start, end)."""
        return await store.active_in(self._repo, start, end)

    async def export(self, days: int = 30) -> dict[str, Any]:
        """Every section in one document (JSON export; the CSV is derived from it)."""
        document = self._meta(days)
        for name in EXPORT_SECTIONS:
            document[name] = await getattr(self, name)(days)
        return document


def export_csv_rows(export: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Flatten an export into (section, key, installations, value) rows."""

    def fmt(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and not math.isfinite(value):
            return ""
        return str(value)

    rows: list[tuple[str, str, str, str]] = [
        ("summary", name, "", fmt(value)) for name, value in export["summary"].items()
    ]
    # (section, export path, key field, installations field, value field)
    sections = (
        ("deployment_mode", ("deployment_modes", "modes"), "mode", "installations", "share"),
        ("version", ("versions", "adoption"), "version", "installations", "share"),
        ("country", ("geography", "countries"), "country", "installations", "share"),
        ("printer_type", ("printers", "types"), "key", "installations", "printers"),
        ("fleet_size", ("printers", "fleet_sizes"), "key", "installations", "share"),
        ("feature", ("features", "features"), "feature", "reporting", "enabled_rate"),
        ("error", ("errors", "errors"), "error_type", "installations", "occurrences"),
    )
    for section, (outer, inner), key, count, value in sections:
        for item in export[outer][inner]:
            rows.append((section, str(item[key]), fmt(item[count]), fmt(item[value])))
    return rows
