"""POST /submit as one framework-free pipeline, shared by the raw ASGI route and Quart."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .auth import key_matches
from .errors import ApiError
from .ingest import GroupCommitWriter
from .metrics import LabelCache, Metrics
from .ratelimit import AddressLimiter
from .rollups import seconds_to_next_hour, today
from .settings import Settings
from .storage.base import StorageError
from .validation import decode_body, privacy_check, to_record, validate

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


def client_address(settings: Settings, forwarded_for: str | None, peer: str | None) -> str | None:
    """The address used as an in-memory rate-limit key (never stored or logged)."""
    if settings.trust_proxy and forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        if first:
            return first
    return peer


def check_address(limiter: AddressLimiter, address: str | None) -> None:
    """Refuse (429 with Retry-After) an address that sends too often."""
    wait = limiter.check(address)
    if wait:
        raise ApiError(
            429,
            "too many requests from this address; retry later",
            headers={"Retry-After": str(wait)},
            reason="address_rate_limit",
        )


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

    async def _handle(
        self,
        header: GetHeader,
        address: str | None,
        content_length: int | None,
        read_body: ReadBody,
    ) -> Reply:
        self._check_submit_key(header("x-submit-key"))
        check_address(self._limiter, address)
        limit = self._settings.max_body_bytes
        if content_length is not None and content_length > limit:
            raise too_large(limit)
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
        privacy_check(raw, data)
        stats = validate(data)
        record = to_record(stats, original_schema=original_schema[:8], received_day=today())
        try:
            result = await writer.submit(record)
        except StorageError as err:
            self._metrics.db_errors.labels("write").inc()
            raise storage_unavailable() from err
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
