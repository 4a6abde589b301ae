"""POST /submit: strict validation, privacy re-check, idempotent group-committed storage."""

from __future__ import annotations

from printernizer_usage_core.models import AggregatedStats
from quart import Blueprint, Response, request
from quart_schema import document_request, document_response
from werkzeug.exceptions import HTTPException

from ..auth import key_matches
from ..errors import ApiError
from ..responses import json_response
from ..rollups import seconds_to_next_hour, today
from ..schemas import ErrorBody, SubmitResult
from ..validation import decode_body, privacy_check, to_record, validate
from .common import check_address_limit, guard_storage, metrics, settings, writer

blueprint = Blueprint("submit", __name__)
# Submissions queued for the writer beyond which new ones are refused with 503.
MAX_PENDING = 5000


def _check_submit_key() -> None:
    expected = settings().submit_key
    if not expected:
        return
    given = request.headers.get("X-Submit-Key")
    if given is None:
        raise ApiError(401, "submit key required: send the X-Submit-Key header", reason="no_key")
    if not key_matches(given.strip(), expected):
        raise ApiError(403, "wrong submit key", reason="wrong_key")


@blueprint.post("/submit")
@document_request(AggregatedStats)
@document_response(SubmitResult, 201)
@document_response(SubmitResult, 200)
@document_response(ErrorBody, 422)
async def submit() -> Response:
    """Store one usage report (schema 2.0 or Printernizer's 1.0); retries are idempotent."""
    try:
        return await _submit()
    except ApiError as err:
        metrics().submissions.labels("rejected", err.reason).inc()
        raise
    except HTTPException as err:
        metrics().submissions.labels("rejected", str(err.code)).inc()
        raise


async def _submit() -> Response:
    _check_submit_key()
    check_address_limit()
    limit = settings().max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body too large: at most {limit} bytes", reason="too_large")
    body = await request.get_data(cache=False, as_text=False)
    raw = body if isinstance(body, bytes) else body.encode()
    if len(raw) > limit:  # chunked bodies carry no Content-Length
        raise ApiError(413, f"body too large: at most {limit} bytes", reason="too_large")
    if writer().pending >= MAX_PENDING:
        # Shed load instead of queueing without bound: clients retry with backoff.
        raise ApiError(503, "server busy; retry later", headers={"Retry-After": "5"}, reason="busy")
    data = decode_body(raw)
    original_schema = str(data.get("schema_version", "1.0"))
    privacy_check(data)
    stats = validate(data)
    record = to_record(stats, original_schema=original_schema[:8], received_day=today())
    result = await guard_storage(writer().submit(record), "write")
    if result.outcome == "rate_limited":
        raise ApiError(
            429,
            f"rate limit: at most {settings().rate_limit_per_hour} submissions per installation "
            "per hour",
            headers={"Retry-After": str(seconds_to_next_hour())},
            reason="installation_rate_limit",
        )
    if result.outcome == "duplicate":
        metrics().submissions.labels("duplicate", "").inc()
        return json_response({"status": "duplicate", "submission_id": result.submission_id}, 200)
    metrics().submissions.labels("accepted", "").inc()
    metrics().rows_stored.inc()
    return json_response({"status": "accepted", "submission_id": result.submission_id}, 201)
