"""Printernizer's Docker mode: record events into our service over HTTP, fire-and-forget."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .printernizer_compat import fleet_counts, translate_event

_LOGGER = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/usage-stats/events"
FLEET_PATH = "/api/v1/usage-stats/fleet"
# The service refuses more per request (its --max-batch default is 500).
MAX_BATCH = 500
_MAX_KEYS = 32
_INT64 = 2**63
_MAX_NAME = 64
# Worth retrying: the service is restarting, overloaded or asks us to slow down.
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(slots=True)
class ClientCounters:
    """What happened to recorded events (numbers only)."""

    queued: int = 0
    sent: int = 0
    dropped_full: int = 0
    dropped_refused: int = 0
    failed_attempts: int = 0


def _plain(metadata: Any) -> dict[str, Any] | None:
    """JSON scalars only: other objects are left out, never turned into text."""
    if not isinstance(metadata, Mapping):
        return None
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if len(out) >= _MAX_KEYS:
            break
        if not isinstance(key, str):
            continue
        finite = isinstance(value, float) and math.isfinite(value)
        # Integers beyond 64 bits are no count anyone records, and the service refuses the
        # whole batch that carries one: left out like any other unusable value.
        fits = isinstance(value, int) and (isinstance(value, bool) or -_INT64 <= value < _INT64)
        if value is None or finite or fits or isinstance(value, str):
            out[key] = value
    return out


class UsageStatsClient:
    """Queues events in memory and posts them in batches to the usage-statistics service.

    `record_event` returns at once and never raises. While the service is unreachable at most
    `max_pending` events wait (newer ones are counted and dropped); delivery retries with
    exponential backoff up to `retry_cap` seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        max_pending: int = 10_000,
        batch_size: int = 200,
        flush_interval: float = 2.0,
        timeout: float = 10.0,
        retry_base: float = 1.0,
        retry_cap: float = 60.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._max_pending = max_pending
        self._batch_size = max(1, min(batch_size, MAX_BATCH))
        self._flush_interval = flush_interval
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._session = session
        self._own_session = session is None
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._send_lock = asyncio.Lock()
        self.counters = ClientCounters()

    @property
    def pending(self) -> int:
        """Events waiting to be sent."""
        return len(self._queue)

    # --- recording (the caller's path) ------------------------------------------------------

    def record(self, event_type: Any, metadata: Mapping[str, Any] | None = None) -> bool:
        """Queue one event; False when it cannot be queued. Never raises, never waits."""
        try:
            name, meta = translate_event(event_type, metadata)
            if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME:
                self.counters.dropped_refused += 1
                return False
            if len(self._queue) >= self._max_pending:
                self.counters.dropped_full += 1
                return False
            event: dict[str, Any] = {"event_type": name}
            plain = _plain(meta)
            if plain:
                event["metadata"] = plain
            self._queue.append(event)
            self.counters.queued += 1
            if len(self._queue) >= self._batch_size:
                self._wake.set()
            return True
        except Exception:
            _LOGGER.debug("usage event not queued", exc_info=True)
            return False

    async def record_event(
        self, event_type: Any, metadata: Mapping[str, Any] | None = None
    ) -> bool:
        """Printernizer's `await record_event(...)`: queues and returns at once."""
        return self.record(event_type, metadata)

    # --- delivery (background) --------------------------------------------------------------

    async def start(self) -> None:
        """Start the background sender."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="printernizer_usage_client")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Try to send what is queued (bounded by `drain_timeout`), then stop."""
        if self._task is not None:
            task, self._task = self._task, None
            self._stopping.set()
            self._wake.set()
            # A batch in flight is finished, not cut off (wait_for cancels only on timeout).
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, drain_timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), drain_timeout)
        if self._own_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def flush(self) -> int:
        """Send everything queued now; returns how many events the service took."""
        sent = 0
        while self._queue:
            count = await self._send_batch()
            if count < 0:
                break
            sent += count
        return sent

    async def send_fleet(self, printers: Iterable[Any]) -> bool:
        """Send the fleet snapshot from Printernizer's printer objects (their `.type` only)."""
        try:
            session = self._get_session()
            async with session.put(
                f"{self._base}{FLEET_PATH}",
                json={"printers": fleet_counts(printers)},
                headers=self._headers,
                timeout=self._timeout,
            ) as resp:
                return resp.status == 200
        except Exception:
            _LOGGER.debug("printer fleet not sent", exc_info=True)
            return False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # The system resolver: compose service names and localhost resolve as for any
            # other program (aiodns, when installed, cannot resolve with every pycares).
            connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def _send_batch(self) -> int:
        """Post one batch: how many the service took, or -1 when it failed and is kept."""
        async with self._send_lock:
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            if not batch:
                return 0
            try:
                session = self._get_session()
                async with session.post(
                    f"{self._base}{EVENTS_PATH}",
                    json={"events": batch},
                    headers=self._headers,
                    timeout=self._timeout,
                ) as resp:
                    status = resp.status
                    if status == 200:
                        accepted = int((await resp.json()).get("accepted", 0))
                        self.counters.sent += accepted
                        self.counters.dropped_refused += len(batch) - accepted
                        self._failures = 0
                        return accepted
            except asyncio.CancelledError:
                self._requeue(batch)  # cancelled mid-request: kept for the next flush
                raise
            except Exception as err:
                status = 0
                _LOGGER.debug("usage service unreachable: %r", err)
            if status == 413 and len(batch) > 1:
                # The service takes smaller batches (its --max-batch): halve and send again.
                self._batch_size = max(1, len(batch) // 2)
                self._requeue(batch)
                return 0
            if status and status not in _RETRYABLE:
                # The service will never take this batch (bad token, bad request): not kept.
                self.counters.dropped_refused += len(batch)
                _LOGGER.warning("usage service refused a batch with HTTP %d", status)
                return 0
            self._requeue(batch)
            self.counters.failed_attempts += 1
            self._failures += 1
            return -1

    def _requeue(self, batch: list[dict[str, Any]]) -> None:
        """Put a failed batch back in front, keeping the queue within `max_pending`."""
        room = self._max_pending - len(self._queue)
        keep = batch[: max(room, 0)]
        self.counters.dropped_full += len(batch) - len(keep)
        self._queue.extendleft(reversed(keep))

    def _delay(self) -> float:
        delay: float = self._retry_base * 2.0 ** (self._failures - 1)
        return min(delay, self._retry_cap)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if self._failures:
                # Backing off: a filling queue does not cut the wait short, stopping does.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._delay())
            elif len(self._queue) < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                await self.flush()
            except Exception:
                _LOGGER.debug("usage event delivery failed", exc_info=True)
