"""Retention: periodically delete submissions older than RETENTION_DAYS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from .metrics import Metrics
from .rollups import hour_number, today
from .settings import Settings
from .storage.base import PurgeResult, Repository, StorageError

_LOGGER = logging.getLogger(__name__)


async def purge_once(
    repository: Repository,
    settings: Settings,
    *,
    now: datetime | None = None,
    metrics: Metrics | None = None,
) -> PurgeResult:
    """Delete everything whose period ended more than RETENTION_DAYS ago."""
    moment = now or datetime.now(UTC)
    result = await repository.purge(
        before_day=today(moment) - settings.retention_days, now_hour=hour_number(moment)
    )
    if metrics is not None and result.submissions:
        metrics.rows_deleted.labels("retention").inc(result.submissions)
    _LOGGER.info(
        "retention purge removed %d submissions and %d installations",
        result.submissions,
        result.installations,
    )
    return result


async def run_periodically(
    repository: Repository,
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Purge now and then every PURGE_INTERVAL_SECONDS until cancelled; errors are logged."""
    while True:
        try:
            await purge_once(repository, settings, now=clock() if clock else None, metrics=metrics)
        except StorageError as err:
            if metrics is not None:
                metrics.db_errors.labels("purge").inc()
            _LOGGER.warning("retention purge failed: %s", err)
        await asyncio.sleep(settings.purge_interval_seconds)
