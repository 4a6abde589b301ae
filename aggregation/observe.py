"""How every request ends, on any path: metrics, the one log line, CORS and nosniff headers."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .logs import log_request
from .metrics import Metrics

_CORS_HEADERS = "Content-Type, Authorization, X-API-Key, X-Submit-Key, X-Deletion-Secret"


class RequestObserver:
    """Shared by the Quart hooks and the raw ASGI /submit route, so both report alike."""

    def __init__(self, metrics: Metrics, allowed_origins: Iterable[str]) -> None:
        self._metrics = metrics
        self._allowed = {origin.rstrip("/") for origin in allowed_origins}
        self._any = "*" in self._allowed
        # labels() takes a lock and builds a key each call; the children are cached instead.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    def started(self) -> float:
        """Count the request in flight; the start time to pass to `finished`."""
        self._metrics.in_flight.inc()
        return time.perf_counter()

    def finished(self, started: float, method: str, route: str, status: int) -> None:
        """Metrics and the log line (the route template, never the concrete path)."""
        elapsed = time.perf_counter() - started
        m = self._metrics
        m.in_flight.dec()
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = m.requests.labels(route, method, str(status))
        counter.inc()
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = m.latency.labels(route)
        histogram.observe(elapsed)
        log_request(method, route, status, elapsed * 1000)

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """CORS headers for an allowed Origin, else none."""
        if not origin or not (self._any or origin.rstrip("/") in self._allowed):
            return {}
        return {
            "Access-Control-Allow-Origin": "*" if self._any else origin,
            "Access-Control-Allow-Headers": _CORS_HEADERS,
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
            "Access-Control-Max-Age": "600",
        }
