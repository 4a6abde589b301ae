"""Anomaly detection on rollup series: robust baselines so steady data raises nothing."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass


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

    def as_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return asdict(self)


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


def error_spikes(
    weeks: Sequence[str],
    affected: Mapping[str, Sequence[int]],
    active: Sequence[int],
    *,
    k: int,
    baseline_weeks: int = 8,
    check_weeks: int = 2,
) -> list[Anomaly]:
    """Error types whose share of reporting installations jumped in one of the last weeks.

    `affected[error][i]` = installations reporting that error in week i; `active[i]` =
    installations reporting at all. A spike needs at least k affected installations (so a
    single noisy installation never alarms) and a rate clearly above the trailing baseline.
    """
    found: list[Anomaly] = []
    n = len(weeks)
    for error, counts in affected.items():
        for i in range(max(baseline_weeks, n - check_weeks), n):
            if active[i] <= 0 or counts[i] < k:
                continue
            history = [counts[j] / active[j] for j in range(i - baseline_weeks, i) if active[j] > 0]
            if len(history) < 3:
                continue
            median = statistics.median(history)
            # Binomial noise of a rate measured over active[i] installations.
            noise = math.sqrt(max(median * (1 - median), 0.0) / active[i])
            median, mad = robust_baseline(history, floor=noise)
            rate = counts[i] / active[i]
            threshold = spike_threshold(median, mad, sigmas=4.0, min_ratio=2.0, min_abs=0.02)
            if rate > threshold:
                found.append(
                    Anomaly(
                        kind="error_spike",
                        period=weeks[i],
                        value=round(rate, 4),
                        baseline=round(median, 4),
                        threshold=round(threshold, 4),
                        subject=error,
                        message=(
                            f"{error} hit {rate:.1%} of reporting installations in the week of "
                            f"{weeks[i]} (baseline {median:.1%}, threshold {threshold:.1%})"
                        ),
                    )
                )
    return found


def active_drops(
    weeks: Sequence[str],
    active: Sequence[int],
    *,
    baseline_weeks: int = 8,
    check_weeks: int = 1,
    min_baseline: int = 20,
) -> list[Anomaly]:
    """Weeks where clearly fewer installations reported than in the weeks before."""
    found: list[Anomaly] = []
    n = len(weeks)
    for i in range(max(baseline_weeks, n - check_weeks), n):
        history = [float(x) for x in active[i - baseline_weeks : i]]
        median, mad = robust_baseline(history, floor=_count_noise(statistics.median(history)))
        if median < min_baseline:
            continue  # too small a population to tell a drop from noise
        threshold = drop_threshold(median, mad, sigmas=4.0, max_ratio=0.7)
        if active[i] < threshold:
            found.append(
                Anomaly(
                    kind="active_drop",
                    period=weeks[i],
                    value=float(active[i]),
                    baseline=round(median, 2),
                    threshold=round(threshold, 2),
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
                    message=(
                        f"{value} submissions on {days[i]}: far {direction} than the usual "
                        f"{median:.0f} on that weekday (threshold {limit:.0f})"
                    ),
                )
            )
    return found
