"""The anomaly detector at Printernizer's scale: shares, occurrence rates, drops, k."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from aggregation import anomalies
from aggregation import rollups as r
from aggregation.storage.base import WeeklyRow

ROOT = Path(__file__).resolve().parents[2]
WEEKS = [f"2026-09-{7 + i:02d}" for i in range(12)]


def test_occurrence_spike_in_the_same_installations_is_found() -> None:
    # 30 of 55 installations (55 %) have the error every week, ~4 times each; then 5x as often.
    active = [55] * 12
    affected = {"MQTTError": [30] * 12}
    occurrences = {"MQTTError": [118, 124, 121, 115, 126, 119, 122, 117, 125, 120, 123, 600]}
    found = anomalies.error_spikes(
        WEEKS, affected, active, k=5, occurrences=occurrences, check_weeks=1
    )
    assert [(a.subject, a.measure, a.installations) for a in found] == [
        ("MQTTError", "occurrences", 30)
    ]
    assert found[0].value == 20.0 and 3.9 < found[0].baseline < 4.1
    assert "times per affected installation" in found[0].message
    # The share never moved, so the share test alone stays silent.
    assert anomalies.error_spikes(WEEKS, affected, active, k=5, check_weeks=1) == []


def test_share_spike_at_60_installations() -> None:
    active = [55, 56, 54, 55, 57, 55, 54, 56, 55, 55, 56, 55]
    affected = {"TimeoutError": [5, 6, 4, 5, 7, 6, 5, 4, 6, 5, 6, 27]}
    found = anomalies.error_spikes(WEEKS, affected, active, k=5, check_weeks=1)
    assert len(found) == 1 and found[0].measure == "share"
    assert found[0].threshold < found[0].value


def test_alert_never_names_fewer_than_k_installations() -> None:
    # A brand-new error in 4 installations is a huge jump, but names a group under k.
    affected = {"RareError": [0] * 11 + [4]}
    occurrences = {"RareError": [0] * 11 + [400]}
    assert anomalies.error_spikes(WEEKS, affected, [40] * 12, k=5, occurrences=occurrences) == []


def test_drop_of_40_percent_at_30_installations() -> None:
    active = [28, 27, 28, 26, 28, 27, 29, 28, 27, 28, 27, 17]
    found = anomalies.active_drops(WEEKS, active)
    assert len(found) == 1 and found[0].value == 17 and found[0].severity == "critical"
    # Ordinary reporting noise at that size is not a drop.
    assert anomalies.active_drops(WEEKS, [28, 27, 28, 26, 28, 27, 29, 28, 27, 28, 27, 24]) == []


def test_an_earlier_spike_does_not_hide_the_next() -> None:
    active = [100] * 12
    affected = {"E": [10, 11, 9, 10, 60, 10, 11, 9, 10, 10, 11, 60]}
    found = anomalies.error_spikes(WEEKS, affected, active, k=5, check_weeks=1)
    assert found and found[0].baseline < 0.12


def test_weekly_series_reads_rollup_rows() -> None:
    weeks = [700_000, 700_007]
    rows = [
        WeeklyRow(700_000, r.ALL, "", 10, 0),
        WeeklyRow(700_007, r.ALL, "", 12, 0),
        WeeklyRow(700_007, r.ERROR, "E", 6, 15),
        WeeklyRow(699_993, r.ERROR, "E", 9, 9),  # before the series: ignored
    ]
    series = anomalies.weekly_series(weeks, rows)
    assert series.active == [10, 12]
    assert series.affected == {"E": [0, 6]} and series.occurrences == {"E": [0, 15]}


def test_steady_fleets_stay_quiet() -> None:
    rng = random.Random(17)
    for _ in range(100):
        active = [rng.binomialvariate(100, 0.92) for _ in range(12)]
        affected = {"E": [rng.binomialvariate(a, 0.2) for a in active]}
        occurrences = {"E": [x * 3 + rng.randint(-x, x) for x in affected["E"]]}
        series = anomalies.WeekSeries(WEEKS, active, affected, occurrences)
        assert anomalies.detect_weekly(series, k=5) == []


def test_simulation_benchmark_runs_the_detector() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/anomaly_simulation.py", "--runs", "20", "--steady-runs", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("| drop 40 %")]
    assert len(lines) == 1
    assert "20/20" in lines[0].split("|")[-2], "300 installations: every drop found"
    lasting = [line for line in result.stdout.splitlines() if "lasting 2 weeks" in line]
    assert len(lasting) == 1
    assert "20/20" in lasting[0].split("|")[-2], "300 installations: every lasting spike found"


# A 60-installation fleet (55 report each week) with errors at 5 %, 10 %, 20 % and 55 %.
STEADY_ERRORS = {
    "LowShareError": [3, 2, 4, 3, 2, 3, 3, 4],
    "MidShareError": [5, 6, 5, 6, 5, 5, 6, 5],
    "CommonError": [11, 12, 10, 11, 12, 11, 10, 11],
    "HighBaselineError": [30, 31, 29, 30, 30, 31, 30, 29],
}


def _tests(errors: dict[str, list[int]], n: int) -> list[anomalies.ShareTest]:
    tests = [anomalies.share_test([(c, n) for c in counts], n, k=5) for counts in errors.values()]
    assert all(t is not None for t in tests)
    return [t for t in tests if t is not None]


def test_share_budget_goes_where_it_buys_detection() -> None:
    tests = _tests(STEADY_ERRORS, 55)
    limits = anomalies.share_thresholds(tests)
    tails = {
        name: t.tails[x - t.first] for name, t, x in zip(STEADY_ERRORS, tests, limits, strict=True)
    }
    # The 5 % error needs a larger tail than one fixed tail (5e-4) to catch a 5x spike; errors
    # that common are caught almost surely at a negligible one.
    assert tails["LowShareError"] > 5e-4
    assert tails["CommonError"] < 1e-6 and tails["HighBaselineError"] < 1e-6
    assert sum(tails.values()) <= anomalies.SHARE_FAMILY_ALPHA


def test_spike_of_a_5_percent_error_at_60_installations() -> None:
    # 10 of 55 (18 %) after ~3 a week: one fixed tail of 5e-4 needed 12 to alarm.
    affected = {name: [*counts, counts[-1]] for name, counts in STEADY_ERRORS.items()}
    affected["LowShareError"][-1] = 10
    weeks = WEEKS[:9]
    found = anomalies.error_spikes(weeks, affected, [55] * 9, k=5, check_weeks=1)
    assert [(a.subject, a.measure, a.installations) for a in found] == [
        ("LowShareError", "share", 10)
    ]
    assert found[0].threshold <= 10 / 55 and 0.05 < found[0].baseline < 0.06
    # One count less is within the noise of that baseline.
    affected["LowShareError"][-1] = 9
    assert anomalies.error_spikes(weeks, affected, [55] * 9, k=5, check_weeks=1) == []


def test_share_tails_stay_within_the_budget_however_many_errors() -> None:
    rng = random.Random(5)
    for types in (1, 5, 40):
        n = rng.randint(25, 300)
        errors = {
            f"E{i}": [rng.binomialvariate(n, share) for _ in range(8)]
            for i, share in enumerate(rng.uniform(0.0, 0.6) for _ in range(types))
        }
        tests = [
            t
            for t in (anomalies.share_test([(c, n) for c in v], n, k=5) for v in errors.values())
            if t is not None
        ]
        limits = anomalies.share_thresholds(tests)
        spent = sum(t.tails[x - t.first] for t, x in zip(tests, limits, strict=True))
        assert spent <= anomalies.SHARE_FAMILY_ALPHA
        assert all(x >= 5 for x in limits), "an alert names at least k installations"


def _low_share_series(last_two: list[int]) -> anomalies.WeekSeries:
    affected = {"LowShareError": [3, 2, 4, 3, 2, 3, 3, 4, 3, 2, *last_two]}
    occurrences = {"LowShareError": [2 * x for x in affected["LowShareError"]]}
    return anomalies.WeekSeries(WEEKS, [55] * 12, affected, occurrences)


def test_a_lasting_spike_missed_in_its_first_week_is_caught_in_its_second() -> None:
    # 8 of 55 against a baseline of ~3 is below the week's threshold; 12 of 55 a week later
    # is caught, judged against the weeks before it (the first spike week included).
    found = anomalies.detect_weekly(_low_share_series([8, 12]), k=5, check_weeks=2)
    assert [(a.period, a.subject) for a in found] == [(WEEKS[-1], "LowShareError")]


def test_a_week_is_judged_alike_whenever_it_is_checked() -> None:
    # The week before the newest is judged against the same history when it is checked again
    # a week later: checking two weeks adds no false alarms to a week already judged.
    series = _low_share_series([10, 3])
    earlier = anomalies.WeekSeries(
        WEEKS[:-1],
        series.active[:-1],
        {k: v[:-1] for k, v in series.affected.items()},
        {k: v[:-1] for k, v in series.occurrences.items()},
    )
    now = anomalies.detect_weekly(series, k=5, check_weeks=2)
    then = anomalies.detect_weekly(earlier, k=5, check_weeks=1)
    assert [a.as_dict() for a in now] == [a.as_dict() for a in then]
    assert [a.period for a in now] == [WEEKS[-2]]
