"""Anomaly detection on weekly rollups: noise models that fit small fleets (30-300 installations).

Each check compares the newest week(s) with a trailing baseline and asks two questions: is the
change larger than sampling noise allows (binomial for shares of installations, a rate model for
occurrences, binomial reporting for active installations), and is it large enough to matter (a
minimum ratio)? The share tests of a week spend one false-alarm budget between them, each as
much as buys it detection (`share_thresholds`). benchmarks/anomaly_simulation.py drives
`detect_weekly` on simulated fleets and records detection rates and false alarms in
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from . import rollups as r
from .rollups import iso_day
from .storage.base import WeeklyRow

# Significance. The share tests of one week share a false-alarm budget (the sum of their
# one-sided tails), spent where it buys detection of a SHARE_TARGET_FACTOR spike (see
# `share_thresholds`); the other tests are in standard deviations of their null model.
# Together they keep false alarms below 1 in 200 evaluated weeks of a steady fleet
# (benchmarks/anomaly_simulation.py, docs/BENCHMARKS.md).
SHARE_FAMILY_ALPHA = 2.5e-3
SHARE_TARGET_FACTOR = 5.0
SHARE_TARGET_POWER = 0.95
# A test whose tail would be below this fraction of the budget is as good as off: the
# strictest threshold any share test is given.
SHARE_NEGLIGIBLE = 1e-4
# An earlier week of the baseline is left out of it when its own tail is below this.
BASELINE_OUTLIER_ALPHA = 5e-4
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


@dataclass(frozen=True, slots=True)
class _Predictive:
    """What an error's baseline predicts for this week's share: a beta-binomial (a, b)."""

    share: float
    a: float
    b: float
    floor: float  # the least share worth an alert (SHARE_MIN_RATIO, SHARE_MIN_ABS)


def _predictive(history: list[tuple[int, int]]) -> _Predictive:
    """Binomial model with the baseline's own uncertainty: the count expected this week follows
    the beta-binomial predictive distribution of the history (half a pseudo-count each way, so
    an error never seen before has a small, non-zero baseline); week-to-week spread beyond
    binomial noise (over-dispersion) widens it."""
    hits = sum(h for h, _ in history)
    total = sum(m for _, m in history)
    p = (hits + 0.5) / (total + 1)
    phi = _dispersion(history, lambda m: m * p, lambda m: m * p * (1 - p))
    floor = max(p * SHARE_MIN_RATIO, p + SHARE_MIN_ABS)
    return _Predictive(p, (hits + 0.5) / phi, (total - hits + 0.5) / phi, floor)


def _share_outlier(history: list[tuple[int, int]], n: int, x: int) -> tuple[float, float] | None:
    """(baseline share, share) when `x` of `n` in an earlier week was a spike against the rest
    of the baseline (a fixed tail, BASELINE_OUTLIER_ALPHA), else None."""
    model = _predictive(history)
    if x / n < model.floor or _beta_binomial_tail(x, n, model.a, model.b) >= BASELINE_OUTLIER_ALPHA:
        return None
    return model.share, x / n


def _binomial_pmf(i: int, n: int, p: float) -> float:
    """P(X = i) for X ~ Binomial(n, p)."""
    if p <= 0.0 or p >= 1.0:
        return float(i == (n if p >= 1.0 else 0))
    return math.exp(
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )


def _binomial_tail(x: int, n: int, p: float) -> float:
    """P(X >= x) for X ~ Binomial(n, p), summed away from the mean until the terms vanish."""
    if x <= 0:
        return 1.0
    if x > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    upper = x > n * p
    steps = range(x, n + 1) if upper else range(x - 1, -1, -1)
    total = 0.0
    for i in steps:  # terms shrink with every step away from the mean
        t = _binomial_pmf(i, n, p)
        total += t
        if t <= total * 1e-12:
            break
    return total if upper else max(0.0, 1.0 - total)


@dataclass(frozen=True, slots=True)
class ShareTest:
    """The thresholds one error's share test can be given this week, loosest first: the count
    `first + j` costs `tails[j]` (its one-sided tail under the baseline, the false-alarm rate
    it spends) and buys `power[j]` (the chance to catch a SHARE_TARGET_FACTOR spike)."""

    share: float
    first: int
    tails: list[float]
    power: list[float]


def share_test(history: list[tuple[int, int]], n: int, *, k: int) -> ShareTest | None:
    """The threshold ladder of one error's share test among `n` reporting installations.

    The loosest threshold names at least k installations and is a practical jump (the floor);
    the strictest has a tail below SHARE_NEGLIGIBLE of the family budget. Uses only the
    baseline and `n`, never this week's count of the error: the allocation must not look at
    the data it tests, or the budget would no longer bound the false alarms.
    """
    model = _predictive(history)
    first = max(k, math.ceil(model.floor * n - 1e-9))
    if first > n:
        return None
    negligible = SHARE_FAMILY_ALPHA * SHARE_NEGLIGIBLE
    base = math.lgamma(n + 1) - _log_beta(model.a, model.b)
    terms: list[float] = []
    for i in range(first, n + 1):  # `first` is above the predictive mean: terms shrink
        terms.append(
            math.exp(
                base
                - math.lgamma(i + 1)
                - math.lgamma(n - i + 1)
                + _log_beta(i + model.a, n - i + model.b)
            )
        )
        if terms[-1] < negligible * 1e-3 and (len(terms) < 2 or terms[-1] <= terms[-2]):
            break
    tails = list(itertools.accumulate(reversed(terms)))[::-1]
    strictest = next((j for j, t in enumerate(tails) if t <= negligible), len(tails) - 1)
    tails = tails[: strictest + 1]
    spiked = min(1.0, model.share * SHARE_TARGET_FACTOR)
    # The strictest threshold's power, then one binomial term per looser step.
    power = [_binomial_tail(first + len(tails) - 1, n, spiked)]
    for i in range(first + len(tails) - 2, first - 1, -1):
        power.append(min(1.0, power[-1] + _binomial_pmf(i, n, spiked)))
    return ShareTest(model.share, first, tails, power[::-1])


def share_thresholds(tests: Sequence[ShareTest], budget: float = SHARE_FAMILY_ALPHA) -> list[int]:
    """The count each share test of a week alarms at: its tail taken from a shared budget.

    One fixed tail for every test spends the false-alarm budget badly: an error at 10 % or
    more of a 60-installation fleet is caught almost surely at a tail of 10⁻⁷, while one at
    5 % needs 10⁻³ to catch a 5x spike, and one at 2 % cannot show one (k installations)
    often, whatever its tail. So the tails are allocated, and their sum never exceeds
    `budget`, which bounds the week's false alarms by construction however many error types
    a fleet has (each test fires under the baseline with probability its tail):

    1. every test starts at its strictest threshold (a negligible tail);
    2. each test that can reach SHARE_TARGET_POWER against a SHARE_TARGET_FACTOR spike gets
       the tail that buys it, cheapest first, while the budget lasts;
    3. what is left is spent one step at a time on the step that buys the most power per
       tail (the allocation that maximises the expected number of spikes caught), and only
       on steps that buy more power than they cost in tail: a count at least as likely under
       the spike as under the baseline.
    """
    chosen = [len(t.tails) - 1 for t in tests]
    spent = sum(t.tails[j] for t, j in zip(tests, chosen, strict=True))
    goals = []
    for i, t in enumerate(tests):
        reach = [j for j, power in enumerate(t.power) if power >= SHARE_TARGET_POWER]
        if reach and max(reach) < chosen[i]:
            goals.append((t.tails[max(reach)] - t.tails[chosen[i]], i, max(reach)))
    for extra, i, j in sorted(goals):
        if spent + extra <= budget:
            spent += extra
            chosen[i] = j
    while True:
        best: tuple[float, int, float] | None = None
        for i, t in enumerate(tests):
            j = chosen[i]
            if j == 0:
                continue
            cost = t.tails[j - 1] - t.tails[j]
            gain = t.power[j - 1] - t.power[j]
            if gain <= cost or spent + cost > budget:
                continue
            ratio = gain / cost if cost > 0 else math.inf
            if best is None or ratio > best[0]:
                best = (ratio, i, cost)
        if best is None:
            return [t.first + j for t, j in zip(tests, chosen, strict=True)]
        _, i, cost = best
        spent += cost
        chosen[i] -= 1


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
    installations reporting at all; `occurrences[error][i]` = how often it happened. The share
    tests of a week share one false-alarm budget (`share_thresholds`). An alert names an
    error only when at least k installations had it that week.
    """
    found: list[Anomaly] = []
    n = len(weeks)
    for i in range(max(MIN_HISTORY, n - check_weeks), n):
        if active[i] <= 0:
            continue
        window = range(max(0, i - baseline_weeks), i)
        tests: dict[str, ShareTest] = {}
        for error, counts in affected.items():
            history = [(counts[j], active[j]) for j in window if active[j] > 0]
            if len(history) >= MIN_HISTORY:
                test = share_test(_without_spike(history, _share_outlier), active[i], k=k)
                if test is not None:
                    tests[error] = test
        limits = dict(zip(tests, share_thresholds(list(tests.values())), strict=True))
        for error, counts in affected.items():
            if counts[i] < k:
                continue
            spike: tuple[float, float] | None = None
            measure, value = "share", counts[i] / active[i]
            if error in tests and counts[i] >= limits[error]:
                spike = (tests[error].share, limits[error] / active[i])
            occ = (occurrences or {}).get(error)
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
