"""Bounded work per submitted body: string limits, and a thread for bodies that are not small.

The privacy detectors run once per string of a body. A 16 KiB body can hold thousands of
strings, or one string of 16,000 characters; checked on the event loop, one such body would
stall every other request (issue 16). No field of the wire schema holds a long string and no
report has many strings, so both are refused before any detector runs, and a body with more
strings than a usual report is checked off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import ApiError

# The longest string the schema accepts is 80 characters (an error type name; the deletion
# hash has 64, a time 32). A JSON-escaped token may be longer than its text: `\\u00e9`.
MAX_STRING_BYTES = 160
# A report has at most ~250 strings, keys included (64 features, 64 error types, 64 event
# types and the fixed fields: docs/AGGREGATION.md); twice that is still nothing a client sends.
MAX_STRINGS = 512
# Checked on the loop when it is this small: at most 64 strings, and the sum of their
# squared lengths (what the detectors cost at worst, while some are still quadratic) within
# twice that of a usual report with a deletion hash (~50 strings, ~600 characters). A usual
# report costs well under a millisecond; the worst such body found, 56 strings of 24
# characters of "a-", 2.3 ms with the detectors of 2026-12-02 (docs/BENCHMARKS.md). Larger
# bodies go to the checker thread.
INLINE_STRINGS = 64
INLINE_SQUARES = 32_768
# Bodies waiting for the checker thread beyond which new ones are refused with 503.
MAX_QUEUED = 64


def check_strings(tokens: list[bytes]) -> None:
    """422 for a body with a string no field can hold, or with more strings than a report."""
    if len(tokens) > MAX_STRINGS:
        raise ApiError(
            422,
            f"too many strings: a report has at most {MAX_STRINGS} keys and values",
            reason="schema",
            extra={"field": "(root)"},
        )
    if tokens and max(map(len, tokens)) > MAX_STRING_BYTES:
        raise ApiError(
            422,
            f"a string is too long: no field of a report holds more than {MAX_STRING_BYTES} "
            "characters",
            reason="schema",
            extra={"field": "(root)"},
        )


def runs_inline(tokens: list[bytes]) -> bool:
    """Whether a body is small enough to check on the event loop."""
    if len(tokens) > INLINE_STRINGS:
        return False
    return math.sumprod(map(len, tokens), map(len, tokens)) <= INLINE_SQUARES  # at C speed


class OffLoop:
    """One thread that checks the larger bodies in turn; the loop keeps serving meanwhile.

    One thread, not a pool: the detectors hold the GIL, so more threads would only take
    more turns from the loop; a bounded queue keeps a flood from piling up.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._queued = 0

    async def run[T](self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the checker thread."""
        if self._queued >= MAX_QUEUED:
            raise ApiError(
                503, "server busy; retry later", headers={"Retry-After": "5"}, reason="busy"
            )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="aggregation-check")
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._queued -= 1

    async def close(self) -> None:
        """Finish queued checks and stop the thread."""
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(RuntimeError):
                await asyncio.to_thread(executor.shutdown, wait=True)
