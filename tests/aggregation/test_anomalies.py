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
