"""Decoding, privacy re-check and schema validation of a submitted body."""

from __future__ import annotations

import json
import re
from typing import Any

from printernizer_usage_core.models import AggregatedStats, parse_submission
from printernizer_usage_core.privacy import find_pii
from pydantic import ValidationError

from .errors import ApiError
from .rollups import contributions, day_number
from .storage.base import SubmissionRecord

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ISO_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
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
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ApiError(
            400, "malformed JSON: the body must be a UTF-8 JSON object", reason="malformed_json"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            422, "the body must be a JSON object", reason="schema", extra={"field": "(root)"}
        )
    return data


def _without_structured(data: dict[str, Any]) -> dict[str, Any]:
    scrubbed = dict(data)
    for path, pattern in _STRUCTURED.items():
        parent: Any = scrubbed
        for part in path[:-1]:
            child = parent.get(part) if isinstance(parent, dict) else None
            if not isinstance(child, dict):
                parent = None
                break
            child = dict(child)
            parent[part] = child
            parent = child
        if isinstance(parent, dict):
            value = parent.get(path[-1])
            if isinstance(value, str) and pattern.match(value):
                parent[path[-1]] = None
    return scrubbed


# Strings the guard already passed (bounded). Reports repeat the same keys and values
# ("job_count", "2.1.0", "docker", ...), and running every detector on each of them for every
# request was the largest cost of /submit. Only harmless strings are ever remembered.
_HARMLESS: set[str] = set()
_HARMLESS_MAX = 20_000
_MAX_DEPTH = 8


def _scan(value: Any, depth: int = 0) -> str | None:
    """find_pii over every string, key and value (the same depth limit), with the cache."""
    if depth > _MAX_DEPTH:
        return "too_deep"
    if isinstance(value, str):
        if value in _HARMLESS:
            return None
        kind: str | None = find_pii(value)
        if kind is None and len(value) <= 80:
            if len(_HARMLESS) >= _HARMLESS_MAX:
                _HARMLESS.clear()
            _HARMLESS.add(value)
        return kind
    if isinstance(value, dict):
        for key, item in value.items():
            found = _scan(key, depth + 1) or _scan(item, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _scan(item, depth + 1)
            if found:
                return found
    return None


def privacy_check(data: dict[str, Any]) -> None:
    """Defence in depth: refuse anything that looks personal, anywhere in the body."""
    kind = _scan(_without_structured(data))
    if kind is not None:
        raise ApiError(
            422,
            f"rejected: looks like personal data ({kind})",
            reason="privacy",
            extra={"kind": kind},
        )


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(root)"


def validate(data: dict[str, Any]) -> AggregatedStats:
    """Schema 1.0 or 2.0 → the current schema; 422 naming the first offending field."""
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
