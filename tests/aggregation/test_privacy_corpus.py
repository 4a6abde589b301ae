"""The personal-data corpus in every string field and key of a valid report: 4xx, 0 stored, 0 logged."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agg_payloads import legacy_payload, payload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printernizer_usage_core.models import parse_submission
from quart import Quart

sys.path.insert(0, str(Path(__file__).parents[1]))

from privacy_corpus import CORPUS, ISSUE_EXAMPLES, inject, string_places

# Day-rounded time fields: an exact time there is accepted and cut to its day, never kept.
_TIME_FIELDS = {("installation", "first_seen"), ("period", "start"), ("period", "end")}


def _report() -> dict:
    return payload(
        features={"auto_download": True, "timelapse": False},
        errors={"ConnectionError": 2},
        secret="s3cret-for-the-corpus",
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + repr(record.__dict__))


@pytest.fixture
def logged() -> Iterator[_Collect]:
    handler = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("aggregation")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def _cases() -> list[tuple[tuple[str, ...], str, str]]:
    cases = []
    for path, where in string_places(_report()):
        for kind, value in CORPUS:
            if where == "value" and path in _TIME_FIELDS and kind.startswith("exact_time"):
                continue
            cases.append((path, where, value))
    return cases


# Refused before storage on either backend: the ten thousand requests run on SQLite only.
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_field_and_key_refuses_the_corpus(app: Quart, logged: _Collect) -> None:
    client = app.test_client()
    assert (await client.post("/submit", json=_report())).status_code == 201  # the base is valid
    repo = app.config["REPOSITORY"]
    stored_before = await repo.count_submissions()
    cases = _cases()
    assert len(cases) > 5_000
    for path, where, value in cases:
        response = await client.post("/submit", json=inject(_report(), path, where, value))
        assert 400 <= response.status_code < 500, (path, where, value, response.status_code)
        assert value not in (await response.get_data(as_text=True)), (path, value)
    assert await repo.count_submissions() == stored_before
    log_text = "\n".join(logged.lines)
    # Short all-digit shapes (10007) turn up in any log line's numbers by chance.
    leaked = [
        value
        for _, value in CORPUS
        if (len(value) >= 8 or not value.isdigit()) and len(value) > 3 and value in log_text
    ]
    assert leaked == []


@pytest.mark.parametrize("value", ISSUE_EXAMPLES)
async def test_issue_examples_as_error_names_features_and_consent(app: Quart, value: str) -> None:
    client = app.test_client()
    for place in (
        {"error_summary": {value: 1}},
        {"consent_version": value},
        {"event_counts": {value: 1}},
    ):
        response = await client.post("/submit", json={**_report(), **place})
        assert response.status_code == 422, (place, await response.get_json())
    body = _report()
    body["usage_stats"]["feature_usage"] = {value: True}
    assert (await client.post("/submit", json=body)).status_code == 422
    assert await app.config["REPOSITORY"].count_submissions() == 0


_SEPARATORS = st.sampled_from(["_", "-", ""])
_WORD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    user=_WORD,
    domain=_WORD,
    tld=st.sampled_from(["com", "org", "local", "lan", "box", "de"]),
    octets=st.lists(st.integers(0, 255), min_size=4, max_size=4),
    sep=_SEPARATORS,
    prefix=st.sampled_from(["", "E", "e"]),
)
def test_generated_squeezed_addresses_are_refused_by_the_wire_model(
    user: str, domain: str, tld: str, octets: list[int], sep: str, prefix: str
) -> None:
    """Generated e-mails, hosts and addresses squeezed into identifiers: no map key takes them."""
    squeezed_sep = sep or "_"
    values = [
        prefix + squeezed_sep.join([user, domain, tld]),
        prefix + squeezed_sep.join([user, domain, "example", tld]),
        prefix + squeezed_sep.join(str(o) for o in octets),
    ]
    for value in values:
        for place in ("error_summary", "event_counts", "feature_usage"):
            body = _report()
            if place == "feature_usage":
                body["usage_stats"]["feature_usage"] = {value: True}
            else:
                body[place] = {value: 1}
            with pytest.raises(ValueError):
                parse_submission(body)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("installation", "first_seen", "9999-12-31T23:59:59-23:59"),
        ("period", "start", "0001-01-01T00:00:00+23:59"),
        ("period", "end", "0001-01-01T00:00:00+23:59"),
        ("installation", "app_version", "\u0662.\u0661.\u0660"),
        ("installation", "app_version", "\uff12.\uff11.\uff10"),
        ("usage_stats", "job_count", True),
        ("usage_stats", "jobs_failed", "3"),
        ("printer_fleet", "printer_count", False),
    ],
)
async def test_bad_wire_values_are_422_not_500(app: Quart, section: str, key: str, value) -> None:
    body = _report()
    body[section][key] = value
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code == 422, await response.get_data(as_text=True)
    assert (await response.get_json())["field"].endswith(key)
    assert await app.config["REPOSITORY"].count_submissions() == 0


async def test_unknown_version_is_its_own_bucket_never_the_latest(app: Quart) -> None:
    client = app.test_client()
    for _ in range(5):
        assert (
            await client.post("/submit", json=payload(app_version="unknown"))
        ).status_code == 201
    only_unknown = await app.config["STATS"].versions(30)
    assert only_unknown["latest"] is None
    assert only_unknown["adoption"][0]["version"] == "unknown"
    for version in ["unknown"] + ["2.1.0"] * 5:
        body = payload(app_version=version)
        assert (await client.post("/submit", json=body)).status_code == 201
    versions = await app.config["STATS"].versions(30)
    assert versions["latest"] == "2.1.0"
    adoption = {item["version"]: item["installations"] for item in versions["adoption"]}
    assert adoption == {"unknown": 6, "2.1.0": 5}
    assert [item["version"] for item in versions["adoption"]][-1] == "unknown"


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-13-45T99:00:00"]
)
async def test_legacy_submission_timestamp_never_500(app: Quart, stamp: str) -> None:
    """Schema 1.0's exact send time is read and dropped: never converted, never a 500."""
    body = legacy_payload()
    body["submission_timestamp"] = stamp
    response = await app.test_client().post("/submit", json=body)
    assert response.status_code in (201, 422), await response.get_data(as_text=True)
    stored = await app.config["REPOSITORY"].count_submissions()
    assert stored == (1 if response.status_code == 201 else 0)
