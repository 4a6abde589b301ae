"""Runtime data and the coordinator that turns the engine's state into entity data."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    DOMAIN,
    FAILING_PERIODS_FOR_ISSUE,
    ISSUE_SUBMISSION_FAILING,
    REFRESH_COOLDOWN,
    UPDATE_INTERVAL,
)
from .core.models import LocalStats, SharingState, SubmissionStatus, TimePeriod, UsageStats
from .core.service import UsageStatsService
from .core.store import StoreError
from .core.submitter import Submitter

_LOGGER = logging.getLogger(__name__)

type PrinternizerUsageConfigEntry = ConfigEntry[PrinternizerUsageData]


@dataclass(frozen=True, slots=True)
class WeekCounts:
    """This calendar week's counters: from Monday 00:00 UTC (the core counts whole UTC days)
    up to now, so they only grow during the week and start again from 0 every Monday."""

    start: datetime
    usage: UsageStats
    errors: dict[str, int]


@dataclass(frozen=True, slots=True)
class UsageData:
    """One snapshot for the entities: the local statistics, this week's counters and the
    delivery state."""

    stats: LocalStats
    week: WeekCounts
    status: SubmissionStatus


@dataclass(slots=True)
class PrinternizerUsageData:
    """What a loaded config entry holds: the engine, the sender and the coordinator."""

    service: UsageStatsService
    submitter: Submitter
    coordinator: PrinternizerUsageCoordinator
    closed: bool = field(default=False)
    # A data change and an options change (one dialog can make both) each run the update
    # listener; applying them one after the other keeps opt-in and opt-out from interleaving.
    settings_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def async_shutdown(self) -> None:
        """Stop sending, write what is queued and close the database (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.submitter.stop()
        finally:
            await self.service.stop()


class PrinternizerUsageCoordinator(DataUpdateCoordinator[UsageData]):
    """Reads statistics and delivery state; refreshed by events, setting changes and a timer."""

    config_entry: PrinternizerUsageConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrinternizerUsageConfigEntry,
        service: UsageStatsService,
        submitter: Submitter,
    ) -> None:
        """Create the coordinator for one config entry."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=DOMAIN,
            update_interval=UPDATE_INTERVAL,
            # Bursts of events become one refresh; the first one shows at once.
            request_refresh_debouncer=Debouncer(
                hass, _LOGGER, cooldown=REFRESH_COOLDOWN, immediate=True
            ),
        )
        self.service = service
        self.submitter = submitter

    async def _async_update_data(self) -> UsageData:
        """Read the local statistics, this week's counters and the delivery state."""
        try:
            stats = await self.service.local_stats(days=7)
            week = await self._async_week(stats)
            status = await self.submitter.status()
        except (StoreError, sqlite3.Error, OSError) as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        self._async_update_repair_issue(status)
        return UsageData(stats=stats, week=week, status=status)

    async def _async_week(self, stats: LocalStats) -> WeekCounts:
        """Counts since this week's Monday, on the engine's own calendar (its "today")."""
        today = stats.period.end_day - timedelta(days=1)
        monday = today - timedelta(days=today.weekday())
        week = TimePeriod.from_days(monday, today + timedelta(days=1))
        payload = await self.service.aggregate(week)
        return WeekCounts(
            start=week.start, usage=payload.usage_stats, errors=dict(payload.error_summary)
        )

    def _async_update_repair_issue(self, status: SubmissionStatus) -> None:
        """Raise a repair issue while sending has failed for two periods or more."""
        if (
            status.state is SharingState.FAILING
            and status.failing_periods >= FAILING_PERIODS_FOR_ISSUE
        ):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                ISSUE_SUBMISSION_FAILING,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_SUBMISSION_FAILING,
                translation_placeholders={
                    "endpoint": status.endpoint or "",
                    "periods": str(status.failing_periods),
                    "error": status.last_error or "",
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, ISSUE_SUBMISSION_FAILING)
