"""Bounded work per body: string limits before any detector, the loop only for small bodies."""

from __future__ import annotations

import json

import pytest
from agg_payloads import legacy_payload, payload
from printernizer_usage_core.registry import KNOWN_FEATURES
from quart import Quart

from aggregation.errors import ApiError
from aggregation.validation import string_tokens
from aggregation.workbudget import MAX_STRING_BYTES, MAX_STRINGS, check_strings, runs_inline


def _tokens(body: object) -> list[bytes]:
    return string_tokens(json.dumps(body).encode())


def test_usual_reports_are_checked_on_the_loop() -> None:
    features = dict.fromkeys(sorted(KNOWN_FEATURES)[:8], True)
    for body in (payload(secret="s", features=features), legacy_payload()):
        tokens = _tokens(body)
        check_strings(tokens)
        assert runs_inline(tokens)


def test_larger_bodies_go_to_the_checker_thread() -> None:
    many = payload(errors={f"Error{i:02d}Error": 1 for i in range(60)})
    assert not runs_inline(_tokens(many))
    # Few strings, but long ones (the longest error names the wire model takes).
    long_keys = payload(errors={"Upload" * 9 + chr(65 + i) + "Error": 1 for i in range(12)})
    assert not runs_inline(_tokens(long_keys))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": "-" * (MAX_STRING_BYTES + 1)}, "a string is too long"),
        ({"-" * 16_000: 1}, "a string is too long"),
        ([f"a{i}" for i in range(MAX_STRINGS + 1)], "too many strings"),
    ],
)
def test_what_no_report_holds_is_refused_before_the_detectors(body: object, message: str) -> None:
    with pytest.raises(ApiError) as refused:
        check_strings(_tokens(body))
    assert refused.value.status == 422
    assert refused.value.message.startswith(message)


async def test_a_report_with_many_strings_is_still_stored(app: Quart) -> None:
    """Checked on the thread, answered like any other (and refused alike when personal)."""
    client = app.test_client()
    body = payload(errors={f"Error{i:02d}Error": 1 for i in range(60)})
    assert (await client.post("/submit", json=body)).status_code == 201
    personal = payload(errors={f"Error{i:02d}Error": 1 for i in range(60)})
    personal["error_summary"]["bob@example.org"] = 1
    refused = await client.post("/submit", json=personal)
    assert refused.status_code == 422
    assert (await refused.get_json())["kind"] == "email"
