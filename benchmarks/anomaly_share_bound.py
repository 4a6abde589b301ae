"""The most any share test can detect on the simulation's fleets: the optimal unbiased test.

    .venv/bin/python benchmarks/anomaly_share_bound.py                  # 60 installations, 5 %
    .venv/bin/python benchmarks/anomaly_share_bound.py --fleet 100 --share 0.05 --weeks 8,11

Prints a Markdown table for docs/BENCHMARKS.md.

The share test asks whether this week's share of installations with an error is above its
share in the weeks before. The simulation (benchmarks/anomaly_simulation.py) draws both from
binomials: each installation reports a week with probability 0.92, and a reporting installation
has the error with a fixed probability. Comparing two binomial proportions with the common
share unknown, the uniformly most powerful unbiased test at level alpha conditions on the
total number of hits (this week's and the history's together): given that total, this
week's hits are hypergeometric whatever the share is, and the test rejects the largest
counts with randomisation at the boundary (Fisher's exact test, randomised; Lehmann &
Romano, Testing Statistical Hypotheses, 4.5). Its false-alarm rate is exactly alpha for
every share, and no unbiased test of level alpha has more power. This script computes that
power exactly (no sampling) against a spike of `--factor` times the share, averaged over
the number of reporting installations in the history and in the week.

It is a ceiling for the server's detector (anomalies.share_test), which must in addition
share the week's budget among all error types, leave room for the other checks, apply
k-anonymity, and cannot randomise.
"""

from __future__ import annotations

import argparse
import sys
from math import exp, lgamma
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anomaly_simulation import REPORT_PROBABILITY

from aggregation.anomalies import _binomial_pmf

NEGLIGIBLE = 1e-9


def log_comb(n: int, k: int) -> float:
    """log of n choose k."""
    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)


def binomial(n: int, p: float) -> list[float]:
    """P(X = k) for k = 0..n, X ~ Binomial(n, p) (the detector's own binomial)."""
    return [_binomial_pmf(k, n, p) for k in range(n + 1)]


def rejection(history: int, week: int, total: int, alpha: float) -> dict[int, float]:
    """Probability of an alarm for each count of this week's hits, given `total` hits in all.

    Under the null this week's count is hypergeometric (`week` draws from `history + week`
    trials holding `total` hits); the largest counts are rejected until alpha is spent, the
    boundary count with the probability that spends it exactly.
    """
    low, high = max(0, total - history), min(week, total)
    denominator = log_comb(history + week, total)
    alarm: dict[int, float] = {}
    spent = 0.0
    for count in range(high, low - 1, -1):
        mass = exp(log_comb(week, count) + log_comb(history, total - count) - denominator)
        if spent + mass <= alpha:
            alarm[count] = 1.0
            spent += mass
        else:
            alarm[count] = (alpha - spent) / mass
            break
    return alarm


def power(fleet: int, weeks: int, share: float, factor: float, alpha: float) -> float:
    """Detection rate of the optimal unbiased test of level alpha against a spike."""
    spiked = min(share * factor, 1.0 - 1e-12)
    history_sizes = binomial(fleet * weeks, REPORT_PROBABILITY)
    week_sizes = binomial(fleet, REPORT_PROBABILITY)
    detected = 0.0
    for history, p_history in enumerate(history_sizes):
        if p_history < NEGLIGIBLE:
            continue
        history_hits = binomial(history, share)
        for week, p_week in enumerate(week_sizes):
            if p_week < NEGLIGIBLE or week == 0:
                continue
            week_hits = binomial(week, spiked)
            cache: dict[int, dict[int, float]] = {}
            caught = 0.0
            for h, p_h in enumerate(history_hits):
                if p_h < NEGLIGIBLE:
                    continue
                for c, p_c in enumerate(week_hits):
                    if p_c < NEGLIGIBLE:
                        continue
                    total = h + c
                    if total not in cache:
                        cache[total] = rejection(history, week, total, alpha)
                    caught += p_h * p_c * cache[total].get(c, 0.0)
            detected += p_history * p_week * caught
    return detected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleet", type=int, default=60, help="installations")
    parser.add_argument("--share", type=float, default=0.05, help="baseline share of the error")
    parser.add_argument("--factor", type=float, default=5.0, help="the spike, times the share")
    parser.add_argument("--weeks", type=lambda t: [int(w) for w in t.split(",")], default=[8, 11])
    parser.add_argument(
        "--alpha", type=lambda t: [float(a) for a in t.split(",")], default=[2.5e-3, 5e-3]
    )
    args = parser.parse_args()
    print(
        f"{args.fleet} installations, an error at {args.share:.0%} of reporting installations, "
        f"a {args.factor:g}x spike; each installation reports a week with probability "
        f"{REPORT_PROBABILITY}"
    )
    columns = " | ".join(f"{w}-week history" for w in args.weeks)
    print(f"| false-alarm rate of the test | {columns} |")
    print("|---|" + "---|" * len(args.weeks))
    for alpha in args.alpha:
        cells = [f"{power(args.fleet, w, args.share, args.factor, alpha):.1%}" for w in args.weeks]
        print(f"| {alpha:.2g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
