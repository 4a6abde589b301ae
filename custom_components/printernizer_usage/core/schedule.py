"""Reporting periods: weekly windows of whole UTC days, anchored on the day of opt-in."""

from __future__ import annotations

from datetime import date, timedelta

from .models import TimePeriod

PERIOD_DAYS = 7


def first_period(anchor: date) -> TimePeriod:
    """The period sent right after opting in: the seven complete days before the opt-in day."""
    return TimePeriod.from_days(anchor - timedelta(days=PERIOD_DAYS), anchor)


def period_containing(day: date, anchor: date) -> TimePeriod:
    """The weekly period (anchored on `anchor`) that `day` falls into."""
    index = (day - anchor).days // PERIOD_DAYS
    start = anchor + timedelta(days=index * PERIOD_DAYS)
    return TimePeriod.from_days(start, start + timedelta(days=PERIOD_DAYS))


def closed_periods(anchor: date, today: date, after: date | None = None) -> list[TimePeriod]:
    """Every period that has ended by `today`, from the first one (or those starting >= after)."""
    periods: list[TimePeriod] = []
    period = first_period(anchor)
    while period.end_day <= today:
        if after is None or period.first_day >= after:
            periods.append(period)
        period = TimePeriod.from_days(period.end_day, period.end_day + timedelta(days=PERIOD_DAYS))
    return periods
