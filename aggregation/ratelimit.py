"""Per-client-address rate limit, in memory only, keyed by a salted hash (never the address)."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable


class AddressLimiter:
    """A token bucket per client address: `per_minute` requests, refilled continuously.

    Addresses are never stored: the key is a hash with a per-process random salt, kept in
    memory only and forgotten once the bucket is full again.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._salt = secrets.token_bytes(16)
        self._buckets: dict[bytes, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        """False when the limit is 0 (disabled)."""
        return self._capacity > 0

    def _key(self, address: str) -> bytes:
        return hashlib.blake2b(address.encode(), key=self._salt, digest_size=16).digest()

    def check(self, address: str | None) -> int:
        """0 when the request may proceed, else the seconds to wait (Retry-After)."""
        if not self.enabled:
            return 0
        now = self._clock()
        key = self._key(address or "unknown")
        tokens, stamp = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self._max_keys:
            self._forget_full(now)
        return 0

    def refund(self, address: str | None) -> None:
        """Give back the request just counted (a duplicate: retries are owed an answer)."""
        if not self.enabled:
            return
        key = self._key(address or "unknown")
        bucket = self._buckets.get(key)
        if bucket is not None:
            tokens, stamp = bucket
            self._buckets[key] = (min(self._capacity, tokens + 1.0), stamp)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they carry no state worth keeping."""
        full = [
            key
            for key, (tokens, stamp) in self._buckets.items()
            if tokens + (now - stamp) * self._rate >= self._capacity
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) > self._max_keys:  # under attack: start afresh, stay bounded
            self._buckets.clear()
