"""Detection rate and false alarms of the anomaly detector on simulated fleets (seeded).

    .venv/bin/python benchmarks/anomaly_simulation.py               # 500 runs per cell
    .venv/bin/python benchmarks/anomaly_simulation.py --runs 200 --steady-runs 1000
Prints a Markdown table for docs/BENCHMARKS.md.

Each run simulates a 12-week history of a fleet: every installation sends its weekly report
with probability 0.92; five error types hit each reporting installation with a fixed
probability (their baseline share, 2 % to 55 %), and an affected installation reports
1 + a gamma-Poisson (over-dispersed) number of occurrences. The history becomes the weekly
rollup rows the repository returns (`all` and `error` buckets) and goes through the same
code the server runs: `anomalies.weekly_series` and `anomalies.detect_weekly`, with k = 5,
judging the newest week. Effects are applied to that week only:

- drop 40 %: 40 % of the installations stop reporting;
- share x5: an error's share of installations is five times its baseline;
- occurrences x5: the same share of installations is hit, each five times as often.

A steady run counts as a false alarm when the detector reports anything at all.

A spike that lasts (a release that breaks something stays out for a week or more) is also
judged as the alerts judge it: the effect is applied to the two newest weeks and the detector
checks both (`check_weeks=2`, as `alerts.py` does), each week against the weeks before it, so
the first week of the spike is judged exactly as in the one-week row and the second week
counts only what it adds. Checking more weeks does not raise the false alarms per week: a
week is judged against the same history whenever it is checked, and an alert is sent once.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aggregation import anomalies
from aggregation import rollups as r
from aggregation.storage.base import WeeklyRow

WEEKS = 12
REPORT_PROBABILITY = 0.92
K = 5
SIZES = (30, 60, 100, 200, 300)
FIRST_WEEK = date(2026, 9, 7).toordinal()  # a Monday
# (error type, baseline share of reporting installations, mean occurrences when hit)
ERRORS = (
    ("RareError", 0.02, 1.5),
    ("LowShareError", 0.05, 2.0),
    ("MidShareError", 0.10, 2.0),
    ("CommonError", 0.20, 3.0),
    ("HighBaselineError", 0.55, 4.0),
)
# Occurrences per affected installation-week: 1 + Poisson(Gamma(shape, mean - 1)).
DISPERSION_SHAPE = 2.0


@dataclass(frozen=True, slots=True)
class Effect:
    """What changes in the newest week, and which finding counts as detecting it."""

    name: str
    kind: str = ""  # "", drop, share, occurrences
    target: str = ""
    factor: float = 1.0
    weeks: int = 1  # how many of the newest weeks it lasts (and the detector checks)


EFFECTS = (
    Effect("steady (false alarms)"),
    Effect("drop 40 % of installations", "drop", factor=0.6),
    Effect("share x5, LowShareError 5 % → 25 %", "share", "LowShareError", 5.0),
    Effect(
        "share x5 lasting 2 weeks, LowShareError, caught in its 1st or 2nd week",
        "share",
        "LowShareError",
        5.0,
        weeks=2,
    ),
    Effect("share x5, MidShareError 10 % → 50 %", "share", "MidShareError", 5.0),
    Effect("occurrences x5, CommonError (20 % share)", "occurrences", "CommonError", 5.0),
    Effect(
        "occurrences x5, HighBaselineError (55 % share)", "occurrences", "HighBaselineError", 5.0
    ),
)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    # A binomial with a huge n is a Poisson to far better than the simulation needs, and
    # random.binomialvariate draws it in constant time.
    n = 1 << 40
    return rng.binomialvariate(n, mean / n)


def _occurrences(rng: random.Random, affected: int, mean: float) -> int:
    """Total occurrences of `affected` installations (sum of over-dispersed counts)."""
    if affected == 0:
        return 0
    extra = mean - 1.0
    # A sum of gamma-Poisson counts with equal scale is one gamma-Poisson.
    rate = rng.gammavariate(DISPERSION_SHAPE * affected, extra / DISPERSION_SHAPE)
    return affected + _poisson(rng, rate)


def simulate(rng: random.Random, size: int, effect: Effect) -> list[WeeklyRow]:
    """The weekly rollup rows of one simulated 12-week history."""
    rows: list[WeeklyRow] = []
    for w in range(WEEKS):
        week = FIRST_WEEK + 7 * w
        newest = w >= WEEKS - effect.weeks
        fleet = size
        if newest and effect.kind == "drop":
            fleet = size - round(size * (1 - effect.factor))
        reporting = rng.binomialvariate(fleet, REPORT_PROBABILITY)
        rows.append(WeeklyRow(week, r.ALL, "", reporting, 0))
        for name, base_share, base_mean in ERRORS:
            share, mean = base_share, base_mean
            if newest and name == effect.target:
                if effect.kind == "share":
                    share = min(1.0, base_share * effect.factor)
                elif effect.kind == "occurrences":
                    mean = base_mean * effect.factor
            affected = rng.binomialvariate(reporting, share)
            if affected:
                total = _occurrences(rng, affected, mean)
                rows.append(WeeklyRow(week, r.ERROR, name, affected, total))
    return rows


def detected(found: list[anomalies.Anomaly], effect: Effect, weeks: list[str]) -> bool:
    """Whether the findings of the weeks the effect lasted include it."""
    current = [a for a in found if a.period in weeks[-effect.weeks :]]
    if effect.kind == "":
        return bool(current)
    if effect.kind == "drop":
        return any(a.kind == "active_drop" for a in current)
    return any(a.kind == "error_spike" and a.subject == effect.target for a in current)


def run_cell(effect: Effect, size: int, runs: int) -> int:
    """How many of `runs` seeded runs the detector flagged."""
    weeks = [FIRST_WEEK + 7 * w for w in range(WEEKS)]
    hits = 0
    for run in range(runs):
        rng = random.Random(f"{effect.name}/{size}/{run}")
        series = anomalies.weekly_series(weeks, simulate(rng, size, effect))
        found = anomalies.detect_weekly(series, k=K, check_weeks=effect.weeks)
        hits += detected(found, effect, series.weeks)
    return hits


def main() -> None:
    """Run every (effect, fleet size) cell and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="seeded runs per effect cell")
    parser.add_argument("--steady-runs", type=int, default=2000, help="seeded steady runs")
    args = parser.parse_args()
    started = time.perf_counter()
    header = ["Effect (in the newest week unless it lasts)", *(f"{n} installations" for n in SIZES)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for effect in EFFECTS:
        runs = args.steady_runs if effect.kind == "" else args.runs
        cells = []
        for size in SIZES:
            hits = run_cell(effect, size, runs)
            cells.append(f"{hits}/{runs} ({100 * hits / runs:.1f} %)")
        lines.append("| " + " | ".join([effect.name, *cells]) + " |")
    elapsed = time.perf_counter() - started
    print(
        "Detection rate (effects) and false alarms (steady) of `anomalies.detect_weekly`, "
        f"k = {K}, 12-week histories, report probability {REPORT_PROBABILITY}; "
        f"seeded runs per cell as shown ({elapsed:.0f} s in all).\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
