"""The personal-data corpus in every metadata value and key of every event: 0 stored, 0 sent, 0 logged."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printernizer_usage_core.privacy import EVENT_TYPES, sanitize_event, sanitize_feature_flags
from printernizer_usage_core.registry import OTHER_ERROR, is_error_type_name

sys.path.insert(0, str(Path(__file__).parents[1]))

from privacy_corpus import CORPUS, ISSUE_EXAMPLES

# Keys each event allows, plus keys no event allows.
_FOREIGN_KEYS = ["name", "user", "host", "path", "click_count", "time_on_page", "exact_duration"]


def _checked(values: list[str]) -> list[str]:
    # Short all-digit shapes (10007) turn up in any number by chance.
    return [v for v in values if len(v) > 3 and (len(v) >= 8 or not v.isdigit())]


def _database_text(folder: Path) -> str:
    """The raw bytes of the SQLite files (WAL included), as text."""
    raw = b"".join(path.read_bytes() for path in sorted(folder.glob("usage.db*")))
    return raw.decode("utf-8", "replace")


async def test_standalone_events_never_keep_the_corpus(
    make_service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service = await make_service()
    recorded = 0
    for event_type, spec in EVENT_TYPES.items():
        for key in [*spec.fields, *_FOREIGN_KEYS]:
            for _, value in CORPUS:
                recorded += service.record_event(event_type, {key: value})
                recorded += service.record_event(event_type, {value: 1})
                recorded += service.record_event(event_type, {value: value})
    await service.set_features({value: True for _, value in CORPUS})
    await service.set_printer_fleet({value: 1 for _, value in CORPUS})
    assert recorded > 10_000  # the events themselves count; only their metadata is refused
    await service.flush()
    texts = {
        "preview": await service.preview(),
        "local": (await service.local_stats()).model_dump_json(),
        "export": json.dumps(await service.export(), default=str),
        "logs": caplog.text,
    }
    await service.stop()
    texts["database"] = await asyncio.to_thread(_database_text, tmp_path)
    for where, text in texts.items():
        leaked = [value for value in _checked([v for _, v in CORPUS]) if value in text]
        assert leaked == [], where


@pytest.mark.parametrize("value", ISSUE_EXAMPLES)
def test_issue_examples_are_bucketed_or_dropped(value: str) -> None:
    assert sanitize_event("job_failed", {"error_type": value}) == (
        "job_failed",
        {"error_type": OTHER_ERROR},
    )
    assert sanitize_event("feature_enabled", {"feature": value}) == ("feature_enabled", {})
    assert sanitize_feature_flags({value: True}) == {}


async def test_an_error_without_a_class_counts_as_an_error(make_service) -> None:
    """Issue 15: error_occurred with only a component raised the event count, not the errors."""
    service = await make_service()
    service.record_event("error_occurred", {"error_type": "ConnectionError"})
    service.record_event("error_occurred", {"component": "printer"})
    service.record_event("error_occurred", {"error_type": "John Smith"})
    service.record_event("error_occurred", None)
    stats = await service.local_stats()
    assert stats.error_summary == {OTHER_ERROR: 3, "ConnectionError": 1}
    assert sum(stats.error_summary.values()) == stats.event_counts["error_occurred"] == 4


_NAME_PART = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(_NAME_PART, min_size=2, max_size=4),
    sep=st.sampled_from([" ", "_", "-", ".", "@", ":"]),
    key=st.sampled_from(["error_type", "error", "exception"]),
)
def test_generated_multi_word_errors_never_survive_cut_down(
    parts: list[str], sep: str, key: str
) -> None:
    """`John Smith` was stored as `John`: a text is a class name or the bucket, never a piece."""
    value = sep.join(parts)
    result = sanitize_event("error_occurred", {key: value})
    assert result is not None
    stored = result[1]["error_type"]
    if stored != OTHER_ERROR:
        # Only two shapes are cut: a dotted module path (its last part is the class) and
        # "Class: message" (the class before the colon). Never a word of a name.
        assert is_error_type_name(stored)
        assert (sep, stored) in ((".", parts[-1]), (":", parts[0]))
