"""The share-test ceiling benchmark computes the optimal unbiased test's size and power right."""

from __future__ import annotations

import random
import sys
from math import comb
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import anomaly_share_bound as bound


@pytest.mark.parametrize(
    ("history", "week", "total", "alpha"),
    [(440, 55, 22, 2.5e-3), (440, 55, 40, 5e-3), (80, 20, 10, 0.05), (30, 10, 3, 0.01)],
)
def test_the_test_spends_exactly_alpha_whatever_the_share(
    history: int, week: int, total: int, alpha: float
) -> None:
    """Given the total hits, this week's count is hypergeometric; the alarms spend alpha."""
    alarm = bound.rejection(history, week, total, alpha)
    null = {
        c: comb(week, c) * comb(history, total - c) / comb(history + week, total)
        for c in range(max(0, total - history), min(week, total) + 1)
    }
    assert sum(null[c] * p for c, p in alarm.items()) == pytest.approx(alpha, rel=1e-9)
    assert all(0.0 <= p <= 1.0 for p in alarm.values())


def test_power_matches_sampling_of_the_same_test() -> None:
    """The exact sum over fleets and counts agrees with drawing them."""
    rng = random.Random(5)
    fleet, weeks, share, factor, alpha = 10, 2, 0.2, 3.0, 0.05
    exact = bound.power(fleet, weeks, share, factor, alpha)
    draws = 40_000
    caught = 0.0
    for _ in range(draws):
        history = rng.binomialvariate(fleet * weeks, bound.REPORT_PROBABILITY)
        week = rng.binomialvariate(fleet, bound.REPORT_PROBABILITY)
        if week == 0:
            continue
        h = rng.binomialvariate(history, share) if history else 0
        c = rng.binomialvariate(week, share * factor)
        caught += bound.rejection(history, week, h + c, alpha).get(c, 0.0)
    assert exact == pytest.approx(caught / draws, abs=0.01)


def test_more_history_or_budget_never_lowers_the_ceiling() -> None:
    small = bound.power(30, 4, 0.1, 5.0, 1e-3)
    assert bound.power(30, 6, 0.1, 5.0, 1e-3) >= small
    assert bound.power(30, 4, 0.1, 5.0, 5e-3) >= small
