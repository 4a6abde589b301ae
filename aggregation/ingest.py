"""Group commit: one writer task stores queued submissions many-per-transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from .rollups import hour_number
from .storage.base import Repository, StorageError, SubmissionRecord, WriteResult

_LOGGER = logging.getLogger(__name__)
_Item = tuple[SubmissionRecord, asyncio.Future[WriteResult]]


class WriterStopped(StorageError):
    """The writer is not running (server starting up or shutting down)."""


class GroupCommitWriter:
    """Queues submissions; a single task writes whatever has queued up in one transaction.

    While one transaction commits, new requests queue; the next transaction takes them all
    (up to `max_batch`). A request's future resolves only after its transaction committed.
    """

    def __init__(
        self,
        repository: Repository,
        *,
        rate_limit_per_hour: int,
        max_batch: int = 200,
        clock: Callable[[], datetime] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._repo = repository
        self._limit = rate_limit_per_hour
        self._max_batch = max_batch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._on_batch = on_batch
        self._queue: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task on the running loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="aggregation-group-commit")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    @property
    def pending(self) -> int:
        """Submissions waiting for their transaction."""
        return len(self._queue)

    async def submit(self, record: SubmissionRecord) -> WriteResult:
        """Queue one submission and wait until its transaction committed.

        A client that hangs up cancels only its wait: the record is already queued and is
        written with its batch.
        """
        if self._task is None or self._task.done() or self._stopping:
            raise WriterStopped("the writer is not running")
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.append((record, future))
        self._wakeup.set()
        return await future

    async def stored_submission_id(self, record: SubmissionRecord) -> str | None:
        """The id stored for `record`'s installation and period, if one is (a read only)."""
        return await self._repo.stored_submission_id(
            record.installation_id, record.period_start_day
        )

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            count = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(count)]
            await self._write(batch)

    async def _write(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            results = await self._repo.write_batch(
                [record for record, _ in batch],
                rate_limit_per_hour=self._limit,
                now_hour=hour_number(self._clock()),
            )
        except Exception as err:  # every waiting request learns of the failure
            _LOGGER.warning("group commit of %d submissions failed: %s", len(batch), err)
            failure = err if isinstance(err, StorageError) else StorageError(str(err))
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        if self._on_batch is not None:
            self._on_batch(len(batch), loop.time() - started)
