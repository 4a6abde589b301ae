"""Decoding, privacy re-check and schema validation of a submitted body."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import orjson
from printernizer_usage_core.models import (
    AggregatedStats,
    LegacyAggregatedStats,
    parse_submission,
)
from printernizer_usage_core.privacy import find_pii
from pydantic import BaseModel, ValidationError

from .errors import ApiError
from .rollups import contributions, day_number
from .storage.base import SubmissionRecord

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ISO_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
# Values whose format is fixed and checked by the schema; the PII detectors would mistake a
# uuid for a serial and a time for an IPv6 address, so these are left out of the scan when
# (and only when) they have exactly that format.
_STRUCTURED: dict[tuple[str, ...], re.Pattern[str]] = {
    ("submission_id",): _UUID,
    ("deletion_key_hash",): _HEX64,
    ("submission_timestamp",): _ISO_TIME,
    ("installation", "installation_id"): _UUID,
    ("installation", "first_seen"): _ISO_TIME,
    ("period", "start"): _ISO_TIME,
    ("period", "end"): _ISO_TIME,
}


def decode_body(raw: bytes) -> dict[str, Any]:
    """The JSON object in `raw`; 400 when it is not JSON, 422 when it is not an object."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:  # also invalid UTF-8, NaN, lone surrogates, too deep
        raise ApiError(
            400, "malformed JSON: the body must be a UTF-8 JSON object", reason="malformed_json"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            422, "the body must be a JSON object", reason="schema", extra={"field": "(root)"}
        )
    return data


def _structured_values(data: dict[str, Any]) -> dict[str, int]:
    """Each value at a fixed-format path that has exactly its format, and how many paths hold it.

    Only that many occurrences in the body are exempt from the scan.
    """
    found: dict[str, int] = {}
    for path, pattern in _STRUCTURED.items():
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and pattern.match(value):
            found[value] = found.get(value, 0) + 1
    return found


# Every JSON string token (keys and values) of a body that is already known to be valid JSON:
# in valid JSON each unescaped quote opens or closes a string, so the tokens pair up.
_JSON_STRING = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"')
# String tokens the guard already passed (bounded). Reports repeat the same keys and values
# ("job_count", "2.1.0", "docker", ...); running every detector on each of them for every
# request was the largest cost of /submit. Only harmless strings are ever remembered.
_HARMLESS: set[bytes] = set()
_HARMLESS_MAX = 20_000


def string_tokens(raw: bytes) -> list[bytes]:
    """Every string of a valid JSON text, keys included, still escaped, in order."""
    if b"\\" not in raw:
        # Without a backslash no string holds an escaped quote: splitting is 4x faster.
        return raw.split(b'"')[1::2]
    return _JSON_STRING.findall(raw)


def unescape(token: bytes) -> str:
    """The text of one string token."""
    return orjson.loads(b'"' + token + b'"') if b"\\" in token else token.decode()


def privacy_check(raw: bytes, data: dict[str, Any], tokens: list[bytes] | None = None) -> None:
    """Defence in depth: refuse anything that looks personal, anywhere in the body.

    Scans every string of the raw body, keys included, at any depth. `data` is the decoded
    body; it names the fixed-format values (ids, times) that the detectors would mistake for
    serials or IPv6 addresses, which are exempt when (and only when) they have that format.
    `tokens` is `string_tokens(raw)` when the caller has it already.
    """
    exempt: dict[str, int] | None = None
    for token in string_tokens(raw) if tokens is None else tokens:
        if token in _HARMLESS:
            continue
        text = unescape(token)
        if exempt is None:
            exempt = _structured_values(data)
        left = exempt.get(text, 0)
        if left:
            # One occurrence per schema place; the same value anywhere else is scanned.
            exempt[text] = left - 1
            continue
        kind = find_pii(text)
        if kind is not None:
            raise ApiError(
                422,
                f"rejected: looks like personal data ({kind})",
                reason="privacy",
                extra={"kind": kind},
            )
        if len(token) <= 80:
            if len(_HARMLESS) >= _HARMLESS_MAX:
                _HARMLESS.clear()
            _HARMLESS.add(token)


def _schema_names(*models: type[BaseModel]) -> frozenset[str]:
    """Every field name of the wire models, nested ones included."""
    names: set[str] = set()
    todo = list(models)
    while todo:
        model = todo.pop()
        for name, info in model.model_fields.items():
            names.add(name)
            for arg in (info.annotation, *get_args(info.annotation)):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    return frozenset(names)


_SCHEMA_NAMES = _schema_names(AggregatedStats, LegacyAggregatedStats)
_HIDDEN = "<not shown>"


def _field_name(loc: tuple[int | str, ...]) -> str:
    # A map key or an unknown field name is what the sender wrote, and may be exactly what
    # must not be repeated (an e-mail as a feature name): only schema names are shown.
    parts = [
        str(part) if isinstance(part, int) or part in _SCHEMA_NAMES or part == "[key]" else _HIDDEN
        for part in loc
    ]
    return ".".join(parts) or "(root)"


# How far a report's period may end after the server's clock (clocks and time zones differ).
MAX_FUTURE = timedelta(days=1)


def validate(data: dict[str, Any], now: datetime | None = None) -> AggregatedStats:
    """Schema 1.0 or 2.0 → the current schema; 422 naming the first offending field.

    A period that ends more than MAX_FUTURE after `now` (the server's clock) is refused: it
    would stay the installation's latest report, counted as active in every window, for ever.
    """
    stats = _parse(data)
    latest = (now or datetime.now(UTC)) + MAX_FUTURE
    if stats.period.end > latest:
        raise ApiError(
            422,
            "invalid field 'period.end': the period ends in the future "
            f"(after {latest.replace(microsecond=0).isoformat()}, the server's time plus "
            "one day); send a report once its period is over",
            reason="future_period",
            extra={"field": "period.end"},
        )
    return stats


def _parse(data: dict[str, Any]) -> AggregatedStats:
    try:
        return parse_submission(data)
    except ValidationError as err:
        problems = [
            # The offending value is never echoed: it may be exactly what must not be stored.
            {"field": _field_name(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in err.errors(include_input=False, include_url=False)
        ][:20]
        first = problems[0] if problems else {"field": "(root)", "message": "invalid"}
        raise ApiError(
            422,
            f"invalid field '{first['field']}': {first['message']}",
            reason="schema",
            extra={"field": first["field"], "problems": problems},
        ) from None
    except (TypeError, ValueError):
        raise ApiError(
            422, "the body does not match the submission schema", reason="schema"
        ) from None


def to_record(
    stats: AggregatedStats, *, original_schema: str, received_day: int
) -> SubmissionRecord:
    """The storage form of a validated submission (the normalised payload, never the raw body)."""
    return SubmissionRecord(
        submission_id=str(stats.submission_id),
        installation_id=str(stats.installation.installation_id),
        period_start_day=day_number(stats.period.start),
        period_end_day=day_number(stats.period.end),
        received_day=received_day,
        schema_version=original_schema,
        app_version=stats.installation.app_version,
        deployment_mode=stats.installation.deployment_mode.value,
        country_code=stats.installation.country_code,
        deletion_key_hash=stats.deletion_key_hash,
        payload=stats.to_json(),
        contributions=contributions(stats),
    )
