"""Anomaly detection on weekly rollups: noise models that fit small fleets (30-300 installations).

Each check compares the newest week(s) with a trailing baseline and asks two questions: is the
change larger than sampling noise allows (binomial for shares of installations, a rate model for
occurrences, binomial reporting for active installations), and is it large enough to matter (a
minimum ratio)? benchmarks/anomaly_simulation.py drives `detect_weekly` on simulated fleets and
records detection rates and false alarms in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from . import rollups as r
from .rollups import iso_day
from .storage.base import WeeklyRow

# Significance: the share test's one-sided tail probability, the other tests in standard
# deviations of their null model. Together they keep false alarms near 1 in 1000 evaluated
# weeks of a steady fleet (benchmarks/anomaly_simulation.py, docs/BENCHMARKS.md).
SHARE_ALPHA = 5e-4
RATE_SIGMAS = 4.5
DROP_SIGMAS = 4.0
# Practical significance: smaller changes are real but not worth an alert.
SHARE_MIN_RATIO = 1.5
SHARE_MIN_ABS = 0.02
RATE_MIN_RATIO = 2.0
DROP_MAX_RATIO = 0.8
# Week-to-week reporting noise assumed at least: a fleet where ~10 % of installations miss
# a week. A steadier history cannot talk the detector into calling 5 % noise a drop.
DROP_MISS_FLOOR = 0.1
BASELINE_WEEKS = 8
MIN_HISTORY = 4
CRITICAL = frozenset({"error_spike", "active_drop"})


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One finding, with the numbers behind it."""

    kind: str  # error_spike | active_drop | submission_volume
    period: str  # ISO date of the week's Monday or of the day
    value: float
    baseline: float
    threshold: float
    message: str
    subject: str = ""  # the error type for error spikes
    measure: str = ""  # share | occurrences (error spikes), installations, submissions
    installations: int = 0  # installations behind an error spike (always >= k)

    @property
    def severity(self) -> str:
        """critical (pushed as an alert) or warning (shown only)."""
        return "critical" if self.kind in CRITICAL else "warning"

    @property
    def key(self) -> str:
        """Identity of the finding: the same anomaly found again has the same key."""
        return f"{self.kind}/{self.measure}/{self.subject}/{self.period}"

    def as_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {**asdict(self), "severity": self.severity, "key": self.key}


@dataclass(slots=True)
class WeekSeries:
    """Weekly counts the detector reads: active installations and, per error, the
    installations affected and the occurrences they reported."""

    weeks: list[str]
    active: list[int]
    affected: dict[str, list[int]] = field(default_factory=dict)
    occurrences: dict[str, list[int]] = field(default_factory=dict)


def weekly_series(weeks: Sequence[int], rows: Iterable[WeeklyRow]) -> WeekSeries:
    """The detector's input from weekly rollup rows (dimensions `all` and `error`)."""
    index = {w: i for i, w in enumerate(weeks)}
    n = len(weeks)
    active = [0] * n
    affected: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    occurrences: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for row in rows:
        i = index.get(row.week)
        if i is None:
            continue
        if row.dim == r.ALL:
            active[i] = row.installations
        elif row.dim == r.ERROR:
            affected[row.key][i] = row.installations
            occurrences[row.key][i] = row.total
    return WeekSeries([iso_day(w) for w in weeks], active, dict(affected), dict(occurrences))


def detect_weekly(series: WeekSeries, *, k: int, check_weeks: int = 1) -> list[Anomaly]:
    """Every weekly check on the newest `check_weeks` weeks of a series."""
    found = error_spikes(
        series.weeks,
        series.affected,
        series.active,
        k=k,
        occurrences=series.occurrences,
        check_weeks=check_weeks,
    )
    found += active_drops(series.weeks, series.active, check_weeks=check_weeks)
    return found


def robust_baseline(history: Sequence[float], floor: float = 0.0) -> tuple[float, float]:
    """(median, scaled MAD) of a trailing window: one earlier outlier does not move it.

    `floor` is the least spread to assume: a short, flat history would otherwise call
    ordinary sampling noise an anomaly.
    """
    median = statistics.median(history)
    mad = statistics.median(abs(x - median) for x in history) * 1.4826
    return median, max(mad, floor)


def _count_noise(median: float) -> float:
    """Poisson noise of a count around `median`."""
    return math.sqrt(max(median, 0.0))


def spike_threshold(
    median: float, mad: float, *, sigmas: float, min_ratio: float, min_abs: float
) -> float:
    """Upper limit: beyond noise (sigmas x MAD), a relative jump, and an absolute minimum."""
    return max(median + sigmas * mad, median * min_ratio, median + min_abs)


def drop_threshold(median: float, mad: float, *, sigmas: float, max_ratio: float) -> float:
    """Lower limit: beyond noise and below a fraction of the baseline."""
    return min(median - sigmas * mad, median * max_ratio)


def _without_spike(
    history: list[tuple[int, int]],
    spike: Callable[[list[tuple[int, int]], int, int], tuple[float, float] | None],
) -> list[tuple[int, int]]:
    """The history without its highest week when that week was itself an anomaly against the
    others: an earlier spike in the baseline must not hide the next one."""
    if len(history) <= MIN_HISTORY:
        return history
    worst = max(range(len(history)), key=lambda j: history[j][0] / history[j][1])
    rest = history[:worst] + history[worst + 1 :]
    x, m = history[worst]
    return rest if spike(rest, m, x) is not None else history


def _dispersion(
    history: list[tuple[int, int]], mean: Callable[[int], float], variance: Callable[[int], float]
) -> float:
    """Observed variance over the model's, from Pearson residuals (the largest left out, so
    one odd week does not widen the band for good); at least 1."""
    residuals = sorted((x - mean(m)) ** 2 / max(variance(m), 1e-9) for x, m in history)
    kept = residuals[:-1] if len(residuals) > MIN_HISTORY else residuals
    return max(1.0, sum(kept) / len(kept))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_binomial_tail(x: int, n: int, a: float, b: float) -> float:
    """P(X >= x) for X ~ BetaBinomial(n, a, b), summed from x until the terms vanish.

    Callers ask only above the mean (x is past the mode), where terms shrink with every step,
    so the sum stops after a few terms, and at once when the first term is below what a float
    holds.
    """
    base = math.lgamma(n + 1) - _log_beta(a, b)
    total = 0.0
    for i in range(x, n + 1):
        term = math.exp(
            base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + _log_beta(i + a, n - i + b)
        )
        total += term
        if term <= total * 1e-12:
            break
    return total


def _share_limit(history: list[tuple[int, int]], n: int, x: int) -> tuple[float, float] | None:
    """(baseline share, alarm threshold) when `x` of `n` installations is a spike, else None.

    Binomial model with the baseline's own uncertainty: the count expected this week follows
    the beta-binomial predictive distribution of the history (half a pseudo-count each way,
    so an error never seen before has a small, non-zero baseline); week-to-week spread beyond
    binomial noise (over-dispersion) widens it. A spike has an upper tail below SHARE_ALPHA
    and is at least a relative and an absolute jump; the threshold reported is the smallest
    share that would have been one.
    """
    hits = sum(h for h, _ in history)
    total = sum(m for _, m in history)
    p = (hits + 0.5) / (total + 1)
    phi = _dispersion(history, lambda m: m * p, lambda m: m * p * (1 - p))
    a, b = (hits + 0.5) / phi, (total - hits + 0.5) / phi
    floor = max(p * SHARE_MIN_RATIO, p + SHARE_MIN_ABS)
    if x / n < floor or _beta_binomial_tail(x, n, a, b) >= SHARE_ALPHA:
        return None
    least = math.ceil(floor * n)
    while least < x and _beta_binomial_tail(least, n, a, b) >= SHARE_ALPHA:
        least += 1
    return p, least / n


def _rate_limit(
    history: list[tuple[int, int]], affected: int, occ: int
) -> tuple[float, float] | None:
    """(baseline occurrences per affected installation, alarm threshold) when `occ`
    occurrences in `affected` installations are a spike, else None.

    Rate model: a week's occurrences are Poisson around affected x rate, over-dispersed by a
    factor estimated from the history; the baseline rate's own uncertainty widens the band.
    """
    total = sum(o for o, _ in history)
    hit = sum(x for _, x in history)
    rate = max(total / hit, 1.0)  # an affected installation had the error at least once
    phi = _dispersion(history, lambda x: x * rate, lambda x: x * rate)
    sd = math.sqrt(phi * rate * (1 / affected + 1 / hit))
    limit = max(rate + RATE_SIGMAS * sd, rate * RATE_MIN_RATIO)
    return (rate, limit) if occ / affected > limit else None


def error_spikes(
    weeks: Sequence[str],
    affected: Mapping[str, Sequence[int]],
    active: Sequence[int],
    *,
    k: int,
    occurrences: Mapping[str, Sequence[int]] | None = None,
    baseline_weeks: int = BASELINE_WEEKS,
    check_weeks: int = 2,
) -> list[Anomaly]:
    """Error types that jumped in one of the last weeks, by share or by occurrences.

    `affected[error][i]` = installations reporting that error in week i; `active[i]` =
    installations reporting at all; `occurrences[error][i]` = how often it happened. An
    alert names an error only when at least k installations had it that week.
    """
    found: list[Anomaly] = []
    n = len(weeks)
    for error, counts in affected.items():
        occ = (occurrences or {}).get(error)
        for i in range(max(MIN_HISTORY, n - check_weeks), n):
            if active[i] <= 0 or counts[i] < k:
                continue
            window = range(max(0, i - baseline_weeks), i)
            history = [(counts[j], active[j]) for j in window if active[j] > 0]
            if len(history) < MIN_HISTORY:
                continue
            spike = _share_limit(_without_spike(history, _share_limit), active[i], counts[i])
            measure, value = "share", counts[i] / active[i]
            if spike is None and occ is not None:
                rated = [(occ[j], counts[j]) for j in window if counts[j] > 0]
                if len(rated) >= MIN_HISTORY:
                    spike = _rate_limit(_without_spike(rated, _rate_limit), counts[i], occ[i])
                    measure, value = "occurrences", occ[i] / counts[i]
            if spike is not None:
                found.append(
                    _error_anomaly(error, weeks[i], measure, value, limits=spike, hit=counts[i])
                )
    return found


def _error_anomaly(
    error: str, week: str, measure: str, value: float, *, limits: tuple[float, float], hit: int
) -> Anomaly:
    base, limit = limits
    if measure == "share":
        what = f"hit {value:.1%} of reporting installations"
        numbers = f"baseline {base:.1%}, threshold {limit:.1%}"
    else:
        what = f"happened {value:.1f} times per affected installation ({hit} installations)"
        numbers = f"baseline {base:.1f}, threshold {limit:.1f}"
    digits = 4 if measure == "share" else 2
    return Anomaly(
        kind="error_spike",
        period=week,
        value=round(value, digits),
        baseline=round(base, digits),
        threshold=round(limit, digits),
        subject=error,
        measure=measure,
        installations=hit,
        message=f"{error} {what} in the week of {week} ({numbers})",
    )


def active_drops(
    weeks: Sequence[str],
    active: Sequence[int],
    *,
    baseline_weeks: int = BASELINE_WEEKS,
    check_weeks: int = 1,
    min_baseline: int = 15,
) -> list[Anomaly]:
    """Weeks where clearly fewer installations reported than in the weeks before.

    Reporting is binomial: of m installations each sends its weekly report with probability
    q, so the count varies by sqrt(m q (1 - q)), far less than sqrt(m). The observed spread
    (MAD) counts when it is larger than that floor.
    """
    found: list[Anomaly] = []
    n = len(weeks)
    for i in range(max(MIN_HISTORY, n - check_weeks), n):
        history = [float(x) for x in active[max(0, i - baseline_weeks) : i]]
        median = statistics.median(history)
        median, mad = robust_baseline(history, floor=math.sqrt(median * DROP_MISS_FLOOR))
        if median < min_baseline:
            continue  # too small a population to tell a drop from noise
        threshold = drop_threshold(median, mad, sigmas=DROP_SIGMAS, max_ratio=DROP_MAX_RATIO)
        if active[i] < threshold:
            found.append(
                Anomaly(
                    kind="active_drop",
                    period=weeks[i],
                    value=float(active[i]),
                    baseline=round(median, 2),
                    threshold=round(threshold, 2),
                    measure="installations",
                    message=(
                        f"only {active[i]} installations reported in the week of {weeks[i]} "
                        f"(baseline {median:.0f}, threshold {threshold:.0f})"
                    ),
                )
            )
    return found


def submission_volume(
    days: Sequence[str],
    counts: Sequence[int],
    *,
    baseline_weeks: int = 4,
    check_days: int = 7,
    min_baseline: float = 10.0,
) -> list[Anomaly]:
    """Days with odd submission volume, compared with the same weekday in earlier weeks.

    Weekly reports make volume depend strongly on the weekday; comparing a Monday with the
    previous Mondays keeps that rhythm from looking like an anomaly.
    """
    found: list[Anomaly] = []
    n = len(days)
    for i in range(max(7 * baseline_weeks, n - check_days), n):
        history = [float(counts[i - 7 * w]) for w in range(1, baseline_weeks + 1)]
        median, mad = robust_baseline(history, floor=_count_noise(statistics.median(history)))
        if median < min_baseline and counts[i] < 3 * min_baseline:
            continue
        high = spike_threshold(median, mad, sigmas=5.0, min_ratio=3.0, min_abs=3 * min_baseline)
        low = drop_threshold(median, mad, sigmas=5.0, max_ratio=0.25)
        value = counts[i]
        if value > high or (median >= min_baseline and value < low):
            direction = "more" if value > high else "fewer"
            limit = high if value > high else low
            found.append(
                Anomaly(
                    kind="submission_volume",
                    period=days[i],
                    value=float(value),
                    baseline=round(median, 2),
                    threshold=round(limit, 2),
                    measure="submissions",
                    message=(
                        f"{value} submissions on {days[i]}: far {direction} than the usual "
                        f"{median:.0f} on that weekday (threshold {limit:.0f})"
                    ),
                )
            )
    return found
