"""Structured logging: one JSON object per line, never an address or a payload."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

ACCESS_LOGGER = logging.getLogger("aggregation.access")


class JsonFormatter(logging.Formatter):
    """Formats records as single-line JSON; `extra={"fields": {...}}` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            # The exception type only: messages may quote request data.
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str) -> None:
    """Attach the JSON handler to the `aggregation` logger once, at `level`."""
    logger = logging.getLogger("aggregation")
    logger.setLevel(level)
    if not any(getattr(h, "_aggregation", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        handler._aggregation = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def log_request(method: str, route: str, status: int, duration_ms: float, **extra: Any) -> None:
    """The one line per request: route template (not the path), status and duration."""
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    ACCESS_LOGGER.info(
        "%s %s %d",
        method,
        route,
        status,
        extra={
            "fields": {
                "event": "request",
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(duration_ms, 2),
                **extra,
            }
        },
    )
