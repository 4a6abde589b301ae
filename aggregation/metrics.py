"""Prometheus metrics on a registry of the app's own (no address or id in any label)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class LabelCache:
    """A labelled metric's children, looked up once per label values.

    prometheus_client's labels() takes a lock and builds a key on every call; on the
    per-request path the children are kept instead (label values are a small fixed set).
    """

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """All counters of one app instance."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "aggregation_requests_total", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "aggregation_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.submissions = Counter(
            "aggregation_submissions_total",
            "Submissions by outcome (accepted, duplicate, rejected) and reason",
            ["outcome", "reason"],
            registry=r,
        )
        self.db_errors = Counter(
            "aggregation_db_errors_total",
            "Database operations that failed",
            ["operation"],
            registry=r,
        )
        self.rows_stored = Counter(
            "aggregation_rows_stored_total", "Submission rows written", registry=r
        )
        self.rows_deleted = Counter(
            "aggregation_rows_deleted_total", "Submission rows deleted", ["cause"], registry=r
        )
        self.batch_size = Histogram(
            "aggregation_commit_batch_size",
            "Submissions per group-commit transaction",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "aggregation_commit_seconds",
            "Duration of a group-commit transaction",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "aggregation_requests_in_flight", "Requests being handled", registry=r
        )

    def observe_batch(self, size: int, seconds: float) -> None:
        """Record one group-commit transaction."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
