"""A background task that repeats one step until stopped, surviving the step's failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging

_LOGGER = logging.getLogger(__name__)


class Repeating:
    """Runs `step` again and again, `pause()` seconds apart, from `start` until `stop`."""

    name = "background"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether there is anything to do (subclasses say)."""
        return True

    async def step(self) -> None:
        """One round of work."""

    def pause(self) -> float:
        """Seconds until the next round."""
        return 3600.0

    async def _loop(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failing round (database down, disk full) must not end the schedule.
                _LOGGER.exception("%s failed; retrying at the next round", self.name)
            await asyncio.sleep(self.pause())

    def start(self) -> None:
        """Start the background task (no-op when not enabled or already running)."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel the background task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
