"""How every request ends, on any path: metrics, the one log line, CORS and nosniff headers."""

from __future__ import annotations

import time
from collections.abc import Iterable

from .logs import log_request
from .metrics import LabelCache, Metrics

_CORS_HEADERS = "Content-Type, Authorization, X-API-Key, X-Submit-Key, X-Deletion-Secret"
# The methods logged and labelled by name; any other (a client may send any token, even a
# host name) is "OTHER", so the log holds nothing a client chose and /metrics stays bounded.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def method_label(method: str) -> str:
    """`method` when it is a standard one, else OTHER."""
    return method if method in KNOWN_METHODS else "OTHER"


class RequestObserver:
    """Shared by the Quart hooks and the raw ASGI /submit route, so both report alike."""

    def __init__(self, metrics: Metrics, allowed_origins: Iterable[str]) -> None:
        self._metrics = metrics
        self._allowed = {origin.rstrip("/") for origin in allowed_origins}
        self._any = "*" in self._allowed
        self._requests = LabelCache(metrics.requests)
        self._latency = LabelCache(metrics.latency)

    def started(self) -> float:
        """Count the request in flight; the start time to pass to `finished`."""
        self._metrics.in_flight.inc()
        return time.perf_counter()

    def finished(self, started: float, method: str, route: str, status: int) -> None:
        """Metrics and the log line (the route template, never the concrete path)."""
        elapsed = time.perf_counter() - started
        method = method_label(method)
        self._metrics.in_flight.dec()
        self._requests(route, method, str(status)).inc()
        self._latency(route).observe(elapsed)
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
