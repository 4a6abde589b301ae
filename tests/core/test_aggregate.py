"""Aggregation correctness on a generated history, and nothing personal reaching the payload."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printernizer_usage_core.aggregate import OTHER_ERRORS, top_counts
from printernizer_usage_core.models import AggregatedStats, TimePeriod
from printernizer_usage_core.registry import EVENT_TYPE_NAMES
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.store import EventRow

from .test_privacy import PERSONAL

# Every event type but those that carry no count of their own in the payload.
TYPES = sorted(
    EVENT_TYPE_NAMES
    - {"app_shutdown", "printer_disconnected", "feature_enabled", "feature_disabled"}
)
ERRORS = ["KeyError", "TimeoutError", "ConnectionError"]
PRINTERS = ["bambu_lab", "prusa_core", "octoprint"]


def generate_history(seed: int, start: date, days: int) -> list[tuple[str, float, dict]]:
    rng = random.Random(seed)
    events = []
    for offset in range(days):
        day = datetime.combine(start + timedelta(days=offset), datetime.min.time(), tzinfo=UTC)
        for _ in range(rng.randrange(0, 40)):
            etype = rng.choice(TYPES)
            meta: dict = {"printer_type": rng.choice(PRINTERS)}
            if etype == "error_occurred":
                meta = {"error": rng.choice(ERRORS)}
            events.append((etype, day.timestamp() + rng.randrange(86400), meta))
    return events


async def load(service: UsageStatsService, events) -> None:
    rows = []
    for etype, ts, meta in events:
        result = service.recorder.record(etype, meta)
        assert result
        row = service.recorder._queue.pop()
        rows.append(EventRow(row.event_type, ts, row.metadata, row.dimension))
    await service.store.insert_events(rows)


def expected_counts(events, first: date, end: date) -> tuple[Counter, Counter]:
    per_type: Counter = Counter()
    errors: Counter = Counter()
    for etype, ts, meta in events:
        day = datetime.fromtimestamp(ts, UTC).date()
        if first <= day < end:
            per_type[etype] += 1
            if etype == "error_occurred":
                errors[meta["error"]] += 1
    return per_type, errors


async def test_weekly_payloads_match_the_generated_history(service: UsageStatsService) -> None:
    start = date(2026, 1, 5)
    events = generate_history(1, start, 70)
    await load(service, events)
    await service.set_printer_fleet({"bambu_lab": 3, "octoprint": 1})
    await service.opt_in()
    for week in range(10):
        first = start + timedelta(days=7 * week)
        period = TimePeriod.from_days(first, first + timedelta(days=7))
        payload = await service.aggregate(period)
        per_type, errors = expected_counts(events, first, first + timedelta(days=7))
        assert payload.event_counts == {k: v for k, v in per_type.items() if v}
        assert payload.usage_stats.jobs_completed == per_type["job_completed"]
        assert payload.usage_stats.jobs_failed == per_type["job_failed"]
        assert payload.usage_stats.job_count == per_type["job_completed"] + per_type["job_failed"]
        assert payload.usage_stats.file_count == per_type["file_downloaded"]
        assert payload.usage_stats.upload_count == per_type["file_uploaded"]
        assert payload.usage_stats.printer_connections == per_type["printer_connected"]
        assert payload.error_summary == dict(errors)
        assert payload.printer_fleet.printer_type_counts == {"bambu_lab": 3, "octoprint": 1}
        assert payload.period.start.hour == 0 and payload.period.duration_days == 7


async def test_periods_that_cross_retention_still_count_from_rollups(
    service: UsageStatsService, clock
) -> None:
    start = date(2025, 11, 3)
    events = generate_history(2, start, 140)
    await load(service, events)
    clock.now = datetime(2026, 3, 23, tzinfo=UTC)
    pruned, _ = await service.prune()
    assert pruned > 0
    first = date(2025, 12, 15)  # raw events of these weeks are gone, the rollups are not
    period = TimePeriod.from_days(first, first + timedelta(days=28))
    payload = await service.aggregate(period)
    per_type, _ = expected_counts(events, first, first + timedelta(days=28))
    assert payload.event_counts == {k: v for k, v in per_type.items() if v}


def test_top_counts_fold_the_long_tail() -> None:
    counts = {f"Error{i:03}": i for i in range(1, 101)}
    folded = top_counts(counts, OTHER_ERRORS, limit=10)
    assert len(folded) == 10
    assert folded["Error100"] == 100
    assert folded[OTHER_ERRORS] == sum(range(1, 92))
    assert sum(folded.values()) == sum(counts.values())
    assert top_counts({"a": 1}, "other") == {"a": 1}


async def test_uptime_is_capped_by_the_period(service: UsageStatsService) -> None:
    await service.store.add_uptime(date(2026, 3, 16), 10 * 86400)
    payload = await service.aggregate(TimePeriod.from_days(date(2026, 3, 16), date(2026, 3, 17)))
    assert payload.usage_stats.uptime_hours == 24


_pii = st.sampled_from([v for vs in PERSONAL.values() for v in vs])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    calls=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(TYPES + ["feature_enabled"]), _pii),
            st.dictionaries(
                st.one_of(
                    st.sampled_from(
                        ["printer_type", "error", "feature", "file_type", "name", "path"]
                    ),
                    _pii,
                ),
                st.one_of(_pii, st.integers(0, 10**6), st.lists(_pii, max_size=2)),
                max_size=4,
            ),
        ),
        max_size=25,
    ),
    fleet=st.dictionaries(
        st.one_of(st.sampled_from(PRINTERS), _pii), st.integers(0, 5), max_size=4
    ),
)
async def test_nothing_personal_reaches_the_database_or_the_payload(
    service: UsageStatsService, calls, fleet
) -> None:
    await service.delete_all()
    for event_type, metadata in calls:
        service.record_event(event_type, metadata)
    await service.set_printer_fleet(fleet)
    await service.set_features({key: True for key in fleet})
    payload = await service.preview()
    AggregatedStats.model_validate_json(payload)
    stored = json.dumps(await service.store.dump())
    everything = payload + stored + json.dumps(await service.export())
    for values in PERSONAL.values():
        for value in values:
            assert value not in everything
            assert json.dumps(value)[1:-1] not in everything
