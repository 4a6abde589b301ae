"""Non-blocking event recorder: validate and enqueue in microseconds, write batches off-path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .privacy import EVENT_TYPES, sanitize_event
from .store import EventRow, UsageStore

_LOGGER = logging.getLogger(__name__)

BatchListener = Callable[[int], None]


@dataclass(slots=True)
class RecorderCounters:
    """What happened to recorded events (numbers only; best-effort when called from threads)."""

    accepted: int = 0
    written: int = 0
    rejected: int = 0
    dropped: int = 0
    write_errors: int = 0


class EventRecorder:
    """Takes events from any thread or coroutine and never makes the caller wait or fail."""

    def __init__(
        self,
        store: UsageStore,
        *,
        max_queue: int = 100_000,
        batch_size: int = 5_000,
        flush_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._queue: deque[EventRow] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._clock = clock
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._listeners: list[BatchListener] = []
        self.counters = RecorderCounters()

    @property
    def pending(self) -> int:
        """Events accepted but not yet written."""
        return len(self._queue)

    def record(self, event_type: Any, metadata: Mapping[str, Any] | None = None) -> bool:
        """Queue one event; True when accepted. Never raises, never blocks."""
        try:
            clean = sanitize_event(event_type, metadata)
            if clean is None:
                self.counters.rejected += 1
                return False
            if len(self._queue) >= self._max_queue:
                self.counters.dropped += 1
                return False
            name, meta = clean
            dimension_key = EVENT_TYPES[name].dimension
            dimension = meta.get(dimension_key, "") if dimension_key else ""
            self._queue.append(EventRow(name, self._clock(), meta, str(dimension)))
            self.counters.accepted += 1
            return True
        except Exception:  # statistics must never hurt the host
            self.counters.rejected += 1
            _LOGGER.debug("usage event could not be recorded", exc_info=True)
            return False

    def add_listener(self, listener: BatchListener) -> Callable[[], None]:
        """Call `listener(count)` after each written batch; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def start(self) -> None:
        """Start the background writer."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="printernizer_usage_recorder")

    async def stop(self) -> None:
        """Write what is queued and stop the writer."""
        if self._task is not None:
            task, self._task = self._task, None
            # Let the writer finish its current batch instead of cancelling it halfway.
            self._stopping.set()
            await task
        await self.flush()

    async def flush(self) -> int:
        """Write everything queued so far; returns how many events this call made durable."""
        written = 0
        async with self._lock:
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))
                ]
                try:
                    # Shielded: a caller cancelled mid-write must not lose a popped batch.
                    written += await asyncio.shield(self._store.insert_events(batch))
                except Exception:
                    # Put the batch back so nothing acknowledged is lost; try again next tick.
                    self._queue.extendleft(reversed(batch))
                    self.counters.write_errors += 1
                    _LOGGER.warning("usage events could not be written; will retry", exc_info=True)
                    break
        self.counters.written += written
        if written:
            for listener in list(self._listeners):
                try:
                    listener(written)
                except Exception:
                    _LOGGER.exception("usage batch listener failed")
        return written

    async def _run(self) -> None:
        self._stopping.clear()
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._flush_interval)
            await self.flush()
