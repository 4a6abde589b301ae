"""Drop-in for Printernizer's UsageStatisticsService, backed by this engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .models import (
    CONSENT_VERSION,
    MAX_PERIOD_DAYS,
    UNKNOWN_VERSION,
    DeploymentMode,
    SharingState,
    TimePeriod,
    UsageSettings,
)
from .printernizer_compat import (
    NO_INSTALLATION_ID,
    AggregatedStats,
    EventType,
    LocalStatsResponse,
    OptInResponse,
    UsageEvent,
    export_document,
    fleet_counts,
    local_stats_response,
    opt_in_response,
    rename_features,
    translate_event,
)
from .service import UsageStatsService
from .submitter import DEFAULT_ENDPOINT, Submitter
from .upstream_migration import migrate_upstream_tables

_LOGGER = logging.getLogger(__name__)

# Our store lives beside Printernizer's database, in its own file (table names would clash).
DB_FILE_NAME = "usage_statistics.db"
FLEET_REFRESH_SECONDS = 3600.0
_FLEET_EVENTS = frozenset({"printer_connected", "printer_disconnected"})


class UsageStatisticsService:
    """Printernizer's usage-statistics service interface on our core.

    Construct it where Printernizer constructs its own (`UsageStatisticsService(database)`);
    every method keeps upstream's arguments and return shapes and, like upstream, never raises.
    """

    def __init__(
        self,
        database: Any = None,
        repository: Any = None,
        *,
        db_path: str | Path | None = None,
        app_version: str | None = None,
        deployment_mode: DeploymentMode | None = None,
        time_zone: str | None = None,
        environ: Mapping[str, str] | None = None,
        endpoint: str | None = None,
        submit: bool = True,
        migrate: bool = True,
        fleet_refresh_seconds: float = FLEET_REFRESH_SECONDS,
        feature_flags: Callable[[], Mapping[str, bool]] | None = None,
        service: UsageStatsService | None = None,
    ) -> None:
        # `repository` is accepted for upstream's signature only: our store replaces it.
        del repository
        source = getattr(database, "db_path", None)
        self._source_db = Path(source) if source is not None and migrate else None
        if service is None:
            if db_path is None:
                if source is None:
                    raise ValueError("pass Printernizer's Database or db_path=")
                db_path = Path(source).with_name(DB_FILE_NAME)
            if source is not None and Path(db_path) == Path(source):
                # Both use tables named usage_events and usage_settings.
                raise ValueError("our store needs its own file, not Printernizer's database")
            service = UsageStatsService(
                db_path,
                app_version=app_version or UNKNOWN_VERSION,
                deployment_mode=deployment_mode,
                time_zone=time_zone,
                environ=environ,
            )
        self.core = service
        self.submitter = (
            Submitter(service, default_endpoint=endpoint or DEFAULT_ENDPOINT) if submit else None
        )
        self.repository = RepositoryView(self)
        self._printer_service: Any = None
        self._fleet_refresh_seconds = fleet_refresh_seconds
        # Printernizer's feature switches (upstream read them from its settings each report).
        self._feature_flags = feature_flags
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fleet_task: asyncio.Task[None] | None = None
        self._started = False

    # --- life cycle -------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Open the store, import Printernizer's old usage_* tables once, start sending."""
        try:
            await self.core.start()
            self._started = True
            if self._source_db is not None:
                await migrate_upstream_tables(self.core, self._source_db)
            if self.submitter is not None:
                await self.submitter.start()
            self._fleet_task = asyncio.create_task(
                self._fleet_loop(), name="printernizer_usage_fleet"
            )
        except Exception:
            _LOGGER.exception("usage statistics could not start; recording stays harmless")

    async def shutdown(self) -> None:
        """Write what is queued and stop (optional for Printernizer; loses at most ~0.5 s)."""
        for task in [self._fleet_task, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fleet_task = None
        try:
            if self.submitter is not None:
                await self.submitter.stop()
            if self._started:
                self._started = False
                await self.core.stop()
        except Exception:
            _LOGGER.warning("usage statistics did not stop cleanly", exc_info=True)

    def set_printer_service(self, printer_service: Any) -> None:
        """Where the printer fleet comes from (`list_printers()`; only `.type` is read)."""
        self._printer_service = printer_service
        self._spawn(self.refresh_fleet())

    # --- consent ----------------------------------------------------------------------------

    async def is_opted_in(self) -> bool:
        """True when reports may be sent (opted in and not vetoed by DO_NOT_TRACK)."""
        try:
            return await self.core.is_opted_in()
        except Exception:
            _LOGGER.warning("could not read the opt-in status", exc_info=True)
            return False

    async def opt_in(self) -> OptInResponse:
        """Switch sharing on (keeps the installation id; makes one on first use)."""
        try:
            settings = await self.core.opt_in(CONSENT_VERSION)
            return opt_in_response(settings.installation_id, opted_in=True)
        except Exception as err:
            _LOGGER.warning("opt-in failed", exc_info=True)
            return OptInResponse(
                success=False, message=f"Failed to enable usage statistics: {type(err).__name__}"
            )

    async def opt_out(self) -> OptInResponse:
        """Switch sharing off at once; local data stays until deleted."""
        try:
            if self.submitter is not None:
                await self.submitter.opt_out(delete_remote=False)
            else:
                await self.core.opt_out()
            return opt_in_response(None, opted_in=False)
        except Exception as err:
            _LOGGER.warning("opt-out failed", exc_info=True)
            return OptInResponse(
                success=False, message=f"Failed to disable usage statistics: {type(err).__name__}"
            )

    # --- recording --------------------------------------------------------------------------

    async def record_event(
        self, event_type: str | EventType, metadata: dict[str, Any] | None = None
    ) -> UsageEvent | None:
        """Record one event without waiting on disk; None when refused. Never raises."""
        try:
            name, meta = translate_event(event_type, metadata)
            if not self.core.record_event(name, meta):
                return None
            if name in _FLEET_EVENTS and self._printer_service is not None:
                self._spawn(self.refresh_fleet())
            return UsageEvent(event_type=EventType(name))
        except Exception:
            _LOGGER.debug("usage event not recorded", exc_info=True)
            return None

    async def refresh_fleet(self) -> None:
        """Read printer counts per family, and the feature switches when a reader was given."""
        if not self.core.store.is_open:
            return
        try:
            if self._feature_flags is not None:
                await self.core.set_features(rename_features(self._feature_flags()))
            if self._printer_service is not None:
                printers = await self._printer_service.list_printers()
                await self.core.set_printer_fleet(fleet_counts(printers))
        except Exception:
            _LOGGER.debug("printer fleet or features not refreshed", exc_info=True)

    async def _fleet_loop(self) -> None:
        while True:
            await asyncio.sleep(self._fleet_refresh_seconds)
            await self.refresh_fleet()

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop yet (called during Printernizer's wiring)
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- reports ----------------------------------------------------------------------------

    async def aggregate_stats(
        self, start_date: datetime | None = None, end_date: datetime | None = None
    ) -> AggregatedStats | None:
        """The period's report in Printernizer's schema 1.0 (whole UTC days; default 7 days)."""
        try:
            end = end_date or datetime.now(UTC)
            start = start_date or end - timedelta(days=7)
            first = start.date()
            last = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(1)
            if last <= first:
                last = first + timedelta(days=1)
            if (last - first).days > MAX_PERIOD_DAYS:
                _LOGGER.warning("aggregate_stats covers at most %d days", MAX_PERIOD_DAYS)
                return None
            await self.refresh_fleet()
            stats = await self.core.aggregate(TimePeriod.from_days(first, last))
            return AggregatedStats.from_report(stats, datetime.now(UTC).date())
        except Exception:
            _LOGGER.warning("usage statistics could not be aggregated", exc_info=True)
            return None

    async def submit_stats(self) -> bool:
        """Send what is due (weekly, idempotent); False when a due report is still undelivered."""
        try:
            if not await self.core.is_opted_in() or self.submitter is None:
                return True
            await self.refresh_fleet()
            status = await self.submitter.run_pending()
            # A due report that could not be delivered is a failure for Printernizer's
            # scheduler (it logs it); the submitter keeps retrying it with backoff anyway.
            undelivered = status.pending_periods > 0 and status.last_error is not None
            return status.state is not SharingState.FAILING and not undelivered
        except Exception:
            _LOGGER.warning("usage statistics submission failed", exc_info=True)
            return False

    async def last_submission(self) -> datetime | None:
        """When a report was last accepted by the server."""
        if self.submitter is None:
            return None
        return (await self.submitter.status()).last_success

    async def get_local_stats(self) -> LocalStatsResponse:
        """Printernizer's local summary (installation id, totals, the last seven days)."""
        try:
            await self.refresh_fleet()
            stats = await self.core.local_stats(days=7)
            return local_stats_response(stats, await self.last_submission())
        except Exception:
            _LOGGER.warning("local usage statistics unavailable", exc_info=True)
            return LocalStatsResponse(
                installation_id="error", opt_in_status="unknown", total_events=0, this_week={}
            )

    async def export_stats(self) -> str:
        """Everything stored locally, as JSON text (Printernizer's keys plus ours)."""
        try:
            return json.dumps(export_document(await self.core.export()), indent=2, default=str)
        except Exception as err:
            _LOGGER.warning("usage statistics export failed", exc_info=True)
            return json.dumps({"error": type(err).__name__})

    async def delete_all_stats(self) -> bool:
        """Forget everything local; sharing ends and a later opt-in is a new installation."""
        try:
            if self.submitter is not None:
                await self.submitter.opt_out(delete_remote=False)
            await self.core.delete_all()
            return True
        except Exception:
            _LOGGER.warning("usage statistics could not be deleted", exc_info=True)
            return False


class RepositoryView:
    """The two repository reads Printernizer's router and scheduler make on the service."""

    def __init__(self, owner: UsageStatisticsService) -> None:
        self._owner = owner

    async def get_total_event_count(self) -> int:
        """How many raw events are stored."""
        total, _oldest = await self._owner.core.store.count_events()
        return total

    async def get_setting(self, key: str) -> str | None:
        """Printernizer's setting keys, answered from our settings (naive UTC like upstream)."""
        readers: dict[str, Callable[[UsageSettings], Any]] = {
            "opt_in_status": lambda s: "enabled" if s.opted_in else "disabled",
            "installation_id": lambda s: str(s.installation_id) if s.installation_id else None,
            "first_run_date": lambda s: s.first_seen,
        }
        if key == "last_submission_date":
            value: Any = await self._owner.last_submission()
        elif key in readers:
            value = readers[key](await self._owner.core.get_settings())
        else:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat()
        return value if value != NO_INSTALLATION_ID else None
