"""Weekly periods anchored on the opt-in day."""

from __future__ import annotations

from datetime import date

from printernizer_usage_core.schedule import closed_periods, first_period, period_containing


def test_first_period_is_the_week_before_opt_in() -> None:
    period = first_period(date(2026, 3, 18))
    assert (period.first_day, period.end_day) == (date(2026, 3, 11), date(2026, 3, 18))


def test_period_containing_aligns_to_the_anchor() -> None:
    anchor = date(2026, 3, 18)
    assert period_containing(date(2026, 3, 18), anchor).first_day == anchor
    assert period_containing(date(2026, 3, 24), anchor).first_day == anchor
    assert period_containing(date(2026, 3, 25), anchor).first_day == date(2026, 3, 25)
    assert period_containing(date(2026, 3, 17), anchor).first_day == date(2026, 3, 11)


def test_closed_periods_are_contiguous() -> None:
    periods = closed_periods(date(2026, 3, 18), date(2026, 4, 8))
    assert [p.first_day.isoformat() for p in periods] == [
        "2026-03-11",
        "2026-03-18",
        "2026-03-25",
        "2026-04-01",
    ]
    assert all(a.end == b.start for a, b in zip(periods, periods[1:], strict=False))
    assert [
        p.first_day
        for p in closed_periods(date(2026, 3, 18), date(2026, 4, 8), after=date(2026, 3, 25))
    ] == [date(2026, 3, 25), date(2026, 4, 1)]
    assert closed_periods(date(2026, 3, 18), date(2026, 3, 17)) == []
