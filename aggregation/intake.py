"""POST /submit as one framework-free pipeline, shared by the raw ASGI route and Quart."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from printernizer_usage_core.models import AggregatedStats

from .auth import key_matches
from .errors import ApiError
from .ingest import GroupCommitWriter
from .metrics import LabelCache, Metrics
from .ratelimit import AddressLimiter
from .rollups import seconds_to_next_hour, today
from .settings import Settings
from .storage.base import StorageError, SubmissionRecord
from .validation import decode_body, privacy_check, string_tokens, to_record, validate
from .workbudget import OffLoop, check_strings, runs_inline

_LOGGER = logging.getLogger(__name__)
# Submissions queued for the writer beyond which new ones are refused with 503.
MAX_PENDING = 5000

ReadBody = Callable[[int], Awaitable[bytes]]
GetHeader = Callable[[str], str | None]


@dataclass(slots=True)
class Reply:
    """What /submit answers: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body as compact JSON."""
        return orjson.dumps(self.body)


def too_large(limit: int) -> ApiError:
    """The 413 for a body over `limit` bytes (one wording for every path)."""
    return ApiError(413, f"body too large: at most {limit} bytes", reason="too_large")


# Parameters a JSON body may name; JSON is always UTF-8 (RFC 8259).
_UTF8 = {"utf-8", "utf8"}


def check_json_type(content_type: str | None) -> None:
    """415 unless the body is declared as JSON (`application/json`, optionally UTF-8).

    Printernizer 1.0 posts with aiohttp's `json=`, which sends `application/json`; forms,
    multipart and text are refused so that nothing but a report is ever parsed as one.
    """
    media, _, parameters = (content_type or "").partition(";")
    if media.strip().lower() != "application/json":
        raise ApiError(
            415,
            "unsupported media type: send the report as JSON with 'Content-Type: application/json'",
            reason="media_type",
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise ApiError(415, "unsupported charset: a JSON report is UTF-8", reason="media_type")


def client_address(settings: Settings, forwarded_for: str | None, peer: str | None) -> str | None:
    """The address used as an in-memory rate-limit key (never stored or logged).

    Behind a trusted proxy (TRUST_PROXY) it is the rightmost X-Forwarded-For entry: the one
    the proxy appended, the address it saw. Entries to its left came from the client, which
    can write anything there (a new address per request would escape every limit).
    """
    if settings.trust_proxy and forwarded_for:
        last = forwarded_for.rpartition(",")[2].strip()
        if last:
            return last
    return peer


def address_limited(wait: int) -> ApiError:
    """The 429 for an address that sends too often."""
    return ApiError(
        429,
        "too many requests from this address; retry later",
        headers={"Retry-After": str(wait)},
        reason="address_rate_limit",
    )


def check_address(limiter: AddressLimiter, address: str | None) -> None:
    """Refuse (429 with Retry-After) an address that sends too often."""
    wait = limiter.check(address)
    if wait:
        raise address_limited(wait)


def storage_unavailable() -> ApiError:
    """The 503 for a database that does not answer."""
    return ApiError(
        503,
        "storage is unavailable; retry later",
        headers={"Retry-After": "30"},
        reason="storage",
    )


class Intake:
    """Checks, decodes, privacy-scans, validates and group-commits one submission.

    Free of any web framework so that the hot path (a raw ASGI route in front of Quart) and
    the Quart route run the very same code.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        limiter: AddressLimiter,
        writer: Callable[[], GroupCommitWriter | None],
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._limiter = limiter
        self._writer = writer
        self._outcomes = LabelCache(metrics.submissions)
        self._off_loop = OffLoop()

    async def handle(
        self,
        header: GetHeader,
        address: str | None,
        content_length: int | None,
        read_body: ReadBody,
    ) -> Reply:
        """The full answer to one POST /submit; bad input never escapes as an exception."""
        try:
            reply = await self._handle(header, address, content_length, read_body)
        except ApiError as err:
            self._outcomes("rejected", err.reason).inc()
            return Reply(err.status, err.body(), dict(err.headers))
        self._outcomes(reply.body["status"], "").inc()
        if reply.status == 201:
            self._metrics.rows_stored.inc()
        return reply

    async def close(self) -> None:
        """Stop the off-loop checker (server shutdown)."""
        await self._off_loop.close()

    async def _handle(
        self,
        header: GetHeader,
        address: str | None,
        content_length: int | None,
        read_body: ReadBody,
    ) -> Reply:
        self._check_submit_key(header("x-submit-key"))
        check_json_type(header("content-type"))
        limit = self._settings.max_body_bytes
        if content_length is not None and content_length > limit:
            raise too_large(limit)
        # Taken now (so that concurrent requests cannot all pass), given back for a duplicate.
        wait = self._limiter.check(address)
        raw = await read_body(limit)  # raises the 413 itself for chunked bodies over the limit
        writer = self._writer()
        if writer is None:
            raise storage_unavailable()
        if writer.pending >= MAX_PENDING:
            # Shed load instead of queueing without bound: clients retry with backoff.
            raise ApiError(
                503, "server busy; retry later", headers={"Retry-After": "5"}, reason="busy"
            )
        data = decode_body(raw)
        original_schema = str(data.get("schema_version", "1.0"))
        stats = await self._checked(raw, data)
        record = to_record(stats, original_schema=original_schema[:8], received_day=today())
        if wait:
            # Over the address limit, only a retry of a report already stored is answered
            # (200 duplicate, as a retry is owed); anything new waits.
            stored = await self._stored(writer, record)
            if stored is None:
                raise address_limited(wait)
            return Reply(200, {"status": "duplicate", "submission_id": stored})
        try:
            result = await writer.submit(record)
        except StorageError as err:
            self._metrics.db_errors.labels("write").inc()
            raise storage_unavailable() from err
        if result.outcome == "duplicate":
            self._limiter.refund(address)  # a retry does not count against the address
        if result.outcome == "rate_limited":
            raise ApiError(
                429,
                f"rate limit: at most {self._settings.rate_limit_per_hour} submissions per "
                "installation per hour",
                headers={"Retry-After": str(seconds_to_next_hour())},
                reason="installation_rate_limit",
            )
        status = 200 if result.outcome == "duplicate" else 201
        return Reply(status, {"status": result.outcome, "submission_id": result.submission_id})

    async def _checked(self, raw: bytes, data: dict[str, Any]) -> AggregatedStats:
        """Privacy re-check and schema validation, with the work per body bounded.

        Strings no schema field can hold, or more of them than a report has, are refused
        before any detector runs; a body with more strings than a usual report is checked
        on a thread of its own, so that no request holds the event loop for long.
        """
        tokens = string_tokens(raw)
        check_strings(tokens)
        if runs_inline(tokens):
            return _privacy_then_schema(raw, data, tokens)
        return await self._off_loop.run(_privacy_then_schema, raw, data, tokens)

    async def _stored(self, writer: GroupCommitWriter, record: SubmissionRecord) -> str | None:
        try:
            return await writer.stored_submission_id(record)
        except StorageError as err:
            self._metrics.db_errors.labels("read").inc()
            raise storage_unavailable() from err

    def _check_submit_key(self, given: str | None) -> None:
        expected = self._settings.submit_key
        if not expected:
            return
        if given is None:
            raise ApiError(
                401, "submit key required: send the X-Submit-Key header", reason="no_key"
            )
        if not key_matches(given.strip(), expected):
            raise ApiError(403, "wrong submit key", reason="wrong_key")


def _privacy_then_schema(raw: bytes, data: dict[str, Any], tokens: list[bytes]) -> AggregatedStats:
    privacy_check(raw, data, tokens)
    try:
        return validate(data)
    except OverflowError:
        # A time whose offset moves it out of the years 1..9999 in UTC: the model's day
        # rounding raises what pydantic does not turn into a validation error.
        raise ApiError(
            422,
            "a time is out of range: it must fall within the years 1 to 9999 in UTC",
            reason="schema",
        ) from None
