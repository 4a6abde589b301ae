"""The service API every front calls: record, consent, aggregate, preview, export, delete."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .aggregate import build_payload
from .environment import Environment, detect_environment, tracking_blocked
from .models import (
    CONSENT_VERSION,
    MAX_PRINTERS,
    AggregatedStats,
    DailyCount,
    DeploymentMode,
    InstallationInfo,
    LocalStats,
    PrinterFleetStats,
    PrinterType,
    TimePeriod,
    UsageSettings,
    day_start,
)
from .privacy import sanitize_feature_flags, sanitize_fleet
from .recorder import EventRecorder
from .schedule import first_period, period_containing
from .store import UsageStore

_LOGGER = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 90
# Daily rollups are tiny; a little over a year of them answers "this time last year".
ROLLUP_RETENTION_DAYS = 400
Listener = Callable[[], None]


def deletion_key_hash(secret: str) -> str:
    """What the server stores instead of the deletion secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _candidate_key(db_path: str | Path) -> str:
    """Services on one file share its candidate; every in-memory store has its own."""
    if str(db_path) == ":memory:":
        return f":memory:{uuid.uuid4()}"
    return str(Path(db_path).expanduser().absolute())


# Candidate identities before opt-in, per store file; held in memory only, never written.
_CANDIDATES: dict[str, Identity] = {}

# The submitter's persisted delivery state, and the keys of it that belong to deletion.
SUBMISSION_STATE_KEY = "submission_state"
DELETION_STATE_KEYS = ("deletion_next_attempt", "deletion_attempts", "deletion_error")
PENDING_DELETIONS_KEY = "pending_deletions"


def pending_deletions(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deletion requests in stored settings (also one noted the way versions before 0.4
    did: a pending flag in the delivery state for the current identity)."""
    stored = raw.get(PENDING_DELETIONS_KEY)
    if isinstance(stored, list):
        return [
            r
            for r in stored
            if isinstance(r, dict) and r.get("installation_id") and r.get("deletion_secret")
        ]
    state = raw.get(SUBMISSION_STATE_KEY)
    noted = isinstance(state, dict) and state.get("deletion_pending") and not raw.get("opted_in")
    if noted and raw.get("installation_id") and raw.get("deletion_secret"):
        return [_deletion_request(raw)]
    return []


def _deletion_request(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A deletion request for the identity in stored settings (it has an id and a secret)."""
    return {
        "installation_id": str(raw["installation_id"]),
        "deletion_secret": str(raw["deletion_secret"]),
        "endpoint": raw.get("endpoint"),
    }


@dataclass(frozen=True, slots=True)
class Identity:
    """An installation's random id and the secret that lets it ask for deletion."""

    installation_id: str
    deletion_secret: str

    @classmethod
    def new(cls) -> Identity:
        """A fresh random identity (uuid4; never derived from the machine)."""
        return cls(str(uuid.uuid4()), secrets.token_urlsafe(32))


class UsageStatsService:
    """One installation's usage statistics: the engine behind every front.

    Reading never writes identity: before the user opts in, `preview()`, `aggregate()`,
    `local_stats()` and `export()` use an in-memory candidate identity (a random id and
    deletion secret this process holds for the store's file). `opt_in()` adopts that very
    candidate, so the preview shown before consent carries the id and deletion hash the first
    report sends. Nothing about the identity reaches the store before `opt_in()`;
    `delete_all()` and `forget_identity()` draw a new candidate. A front that must not touch
    the file at all before the user decides (a setup dialog) calls `preview_without_store()`
    on a service it has not started.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        app_version: str,
        deployment_mode: DeploymentMode | None = None,
        time_zone: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        max_queue: int = 100_000,
        flush_interval: float = 0.5,
        maintenance_interval: float = 300.0,
    ) -> None:
        self.store = UsageStore(db_path)
        self._app_version = app_version
        self._deployment_mode = deployment_mode
        self._time_zone = time_zone
        self._environ = environ
        self._clock = clock
        self.recorder = EventRecorder(
            self.store,
            max_queue=max_queue,
            flush_interval=flush_interval,
            # The hot path stamps events with time.time() unless a test moves the clock.
            clock=time.time if clock is _utcnow else lambda: self._clock().timestamp(),
        )
        self._maintenance_interval = maintenance_interval
        self._maintenance_task: asyncio.Task[None] | None = None
        self._environment: Environment | None = None
        self._features: dict[str, bool] = {}
        self._features_dirty = False
        self._uptime_mark = time.monotonic()
        self._listeners: list[Listener] = []
        # Whose in-memory candidate identity this service shows and adopts (the class doc).
        self._candidate_key = _candidate_key(db_path)
        self.recorder.add_listener(lambda _count: self.notify_listeners())

    # --- life cycle -------------------------------------------------------------------------

    @property
    def environment(self) -> Environment:
        """Facts about this machine (read once at start)."""
        if self._environment is None:
            raise RuntimeError("UsageStatsService.start() has not run")
        return self._environment

    @property
    def blocked_by_environment(self) -> bool:
        """DO_NOT_TRACK or the kill switch is set: nothing may leave the machine."""
        return tracking_blocked(self._environ)

    async def start(self) -> None:
        """Open the store, read the environment and start the background writer."""
        await self.store.open()
        self._environment = await asyncio.to_thread(
            detect_environment,
            self._app_version,
            deployment_mode=self._deployment_mode,
            time_zone=self._time_zone,
            environ=self._environ,
        )
        self._features = dict(await self.store.get_setting("features", {}))
        self._uptime_mark = time.monotonic()
        await self.recorder.start()
        self._maintenance_task = asyncio.create_task(
            self._maintenance_loop(), name="printernizer_usage_maintenance"
        )

    async def stop(self) -> None:
        """Write everything still queued, account the uptime and close the store."""
        if self._maintenance_task is not None:
            task, self._maintenance_task = self._maintenance_task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.recorder.stop()
            await self._save_features()
            await self.account_uptime()
        finally:
            # Closed whatever happened: an open connection's thread would keep the host's
            # process from exiting.
            await self.store.close()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener()` when stored statistics or settings change; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def notify_listeners(self) -> None:
        """Tell the fronts that statistics, settings or delivery state changed."""
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                _LOGGER.exception("usage statistics listener failed")

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(self._maintenance_interval)
            try:
                await self.account_uptime()
                await self.prune()
            except Exception:
                _LOGGER.warning("usage statistics maintenance failed", exc_info=True)

    # --- recording --------------------------------------------------------------------------

    def record_event(self, event_type: Any, metadata: Mapping[str, Any] | None = None) -> bool:
        """Record one event; returns at once, never raises. False when refused or dropped."""
        accepted = self.recorder.record(event_type, metadata)
        if not accepted:
            return False
        try:
            # A caller's str subclass may compare in surprising ways: use a plain copy.
            kind = str.__str__(event_type)
            if kind in ("feature_enabled", "feature_disabled"):
                flags = sanitize_feature_flags(
                    {(metadata or {}).get("feature"): kind == "feature_enabled"}
                )
                if flags:
                    self._features.update(flags)
                    self._features_dirty = True
        except Exception:
            _LOGGER.debug("feature flag of an accepted event not read", exc_info=True)
        return True

    async def flush(self) -> int:
        """Make everything recorded so far durable; returns how many events were written."""
        written = await self.recorder.flush()
        await self._save_features()
        return written

    async def _save_features(self) -> None:
        if self._features_dirty and self.store.is_open:
            self._features_dirty = False
            await self.store.set_setting("features", self._features)

    async def account_uptime(self) -> None:
        """Add the running time since the last call to today's uptime."""
        now = time.monotonic()
        elapsed, self._uptime_mark = int(now - self._uptime_mark), now
        if self.store.is_open:
            await self.store.add_uptime(self._clock().date(), elapsed)

    async def prune(self) -> tuple[int, int]:
        """Apply retention: raw events after `retention_days`, rollups after ~13 months."""
        settings = await self.get_settings()
        today = self._clock().date()
        events = await self.store.prune_events(
            day_start(today - timedelta(days=settings.retention_days))
        )
        rollups = await self.store.prune_rollups(today - timedelta(days=ROLLUP_RETENTION_DAYS))
        await self.store.outbox_prune(
            int(day_start(today - timedelta(days=settings.retention_days)).timestamp())
        )
        return events, rollups

    # --- snapshot inputs --------------------------------------------------------------------

    async def set_printer_fleet(self, counts: Mapping[Any, Any]) -> dict[PrinterType, int]:
        """Replace the printer-fleet snapshot (counts per family only).

        Raises ValueError, storing nothing, for more than MAX_PRINTERS printers in all: a
        report could not carry that fleet, and every later report would fail.
        """
        fleet = sanitize_fleet(counts)
        if sum(fleet.values()) > MAX_PRINTERS:
            raise ValueError(f"a fleet has at most {MAX_PRINTERS} printers in all")
        await self.store.set_setting("fleet", {str(k): v for k, v in fleet.items()})
        self.notify_listeners()
        return fleet

    async def get_printer_fleet(self) -> dict[PrinterType, int]:
        """The current printer-fleet snapshot."""
        stored = await self.store.get_setting("fleet", {})
        return sanitize_fleet(stored)

    async def set_features(self, flags: Mapping[Any, Any]) -> dict[str, bool]:
        """Merge feature on/off flags into the snapshot."""
        self._features.update(sanitize_feature_flags(flags))
        self._features_dirty = True
        await self._save_features()
        self.notify_listeners()
        return dict(self._features)

    # --- settings and consent ---------------------------------------------------------------

    async def get_settings(self) -> UsageSettings:
        """The user's choices as stored, with the environment's veto applied."""
        raw = await self.store.get_settings()
        return UsageSettings(
            opted_in=bool(raw.get("opted_in", False)),
            blocked_by_environment=self.blocked_by_environment,
            consent_version=raw.get("consent_version"),
            consented_at=raw.get("consented_at"),
            installation_id=raw.get("installation_id"),
            first_seen=raw.get("first_seen"),
            endpoint=raw.get("endpoint"),
            retention_days=int(raw.get("retention_days", DEFAULT_RETENTION_DAYS)),
        )

    async def is_opted_in(self) -> bool:
        """Whether reports may be sent (opted in and not vetoed by DO_NOT_TRACK)."""
        return (await self.get_settings()).sharing

    async def opt_in(
        self, consent_version: str = CONSENT_VERSION, *, endpoint: str | None = None
    ) -> UsageSettings:
        """Record consent; adopts the identity the preview showed (made now on first use)."""
        raw = await self.store.get_settings()
        today = self._clock().date()
        identity = self._identity(raw)
        values: dict[str, Any] = {
            "opted_in": True,
            "consent_version": consent_version,
            "consented_at": day_start(today).isoformat(),
            "installation_id": identity.installation_id,
            # Written by versions before 0.2 when a preview ran before opt-in.
            "candidate_installation_id": None,
            "deletion_secret": identity.deletion_secret,
            "first_seen": raw.get("first_seen") or day_start(today).isoformat(),
        }
        if not raw.get("opted_in"):
            values["period_anchor"] = today.isoformat()
        if endpoint is not None:
            values["endpoint"] = endpoint
        await self.store.set_settings(values)
        _CANDIDATES.pop(self._candidate_key, None)
        self.notify_listeners()
        return await self.get_settings()

    async def opt_out(self) -> UsageSettings:
        """Stop sharing at once: nothing queued for sending is kept."""
        await self.store.set_settings({"opted_in": False, "period_anchor": None})
        await self.store.outbox_clear()
        self.notify_listeners()
        return await self.get_settings()

    async def request_deletion(self) -> bool:
        """Note that the server is to delete this installation's reports (False: nothing to ask;
        without a secret the server cannot be asked, so the identity is only forgotten)."""
        raw = await self.store.get_settings()
        installation_id, secret = raw.get("installation_id"), raw.get("deletion_secret")
        if not installation_id:
            return False
        if not secret:
            await self.forget_identity()
            return False
        requests = [r for r in pending_deletions(raw) if r["installation_id"] != installation_id]
        requests.append(_deletion_request(raw))
        await self.store.set_setting(PENDING_DELETIONS_KEY, requests)
        return True

    async def pending_deletions(self) -> list[dict[str, Any]]:
        """Deletion requests the server has not confirmed yet, oldest first."""
        return pending_deletions(await self.store.get_settings())

    async def cancel_deletion(self, installation_id: str) -> bool:
        """Forget the deletion request for one installation (refused, or sharing resumed);
        False when there was none."""
        requests = await self.pending_deletions()
        kept = [r for r in requests if r["installation_id"] != installation_id]
        if len(kept) == len(requests):
            return False
        await self.store.set_setting(PENDING_DELETIONS_KEY, kept or None)
        return True

    async def deletion_done(self, installation_id: str) -> None:
        """The server deleted one installation: forget its request, and the identity too when
        it is the current one."""
        await self.cancel_deletion(installation_id)
        if (await self.store.get_setting("installation_id")) == installation_id:
            await self.forget_identity()

    async def forget_identity(self) -> None:
        """Drop the installation id and deletion secret (after the server deleted our data)."""
        await self.store.set_settings(
            {
                "installation_id": None,
                "candidate_installation_id": None,
                "deletion_secret": None,
                "first_seen": None,
            }
        )
        _CANDIDATES.pop(self._candidate_key, None)
        self.notify_listeners()

    async def set_endpoint(self, endpoint: str | None) -> None:
        """Where reports go (validated by the submitter before use)."""
        await self.store.set_setting("endpoint", endpoint)

    async def set_retention_days(self, days: int) -> None:
        """How long raw events are kept locally."""
        if not 1 <= days <= 3650:
            raise ValueError("retention must be between 1 and 3650 days")
        await self.store.set_setting("retention_days", days)

    async def deletion_secret(self) -> str | None:
        """The secret that lets this installation ask the server to delete its data."""
        value = await self.store.get_setting("deletion_secret")
        return str(value) if value else None

    async def period_anchor(self) -> date | None:
        """The day weekly periods are aligned to (the day sharing was switched on)."""
        value = await self.store.get_setting("period_anchor")
        return date.fromisoformat(value) if value else None

    # --- aggregation ------------------------------------------------------------------------

    def _identity(self, raw: Mapping[str, Any]) -> Identity:
        """The stored identity, or the in-memory candidate opting in will adopt (no write)."""
        installation_id = raw.get("installation_id") or raw.get("candidate_installation_id")
        secret = raw.get("deletion_secret")
        if installation_id and secret:
            return Identity(str(installation_id), str(secret))
        candidate = _CANDIDATES.get(self._candidate_key)
        if candidate is None:
            candidate = _CANDIDATES[self._candidate_key] = Identity.new()
        return Identity(
            str(installation_id or candidate.installation_id),
            str(secret or candidate.deletion_secret),
        )

    def _installation(self, raw: Mapping[str, Any], identity: Identity) -> InstallationInfo:
        env = self.environment
        return InstallationInfo.model_validate(
            {
                "installation_id": identity.installation_id,
                "first_seen": raw.get("first_seen") or day_start(self._clock().date()),
                "app_version": env.app_version,
                "python_version": env.python_version,
                "platform": env.platform,
                "deployment_mode": env.deployment_mode,
                "country_code": env.country_code,
            }
        )

    async def aggregate(self, period: TimePeriod) -> AggregatedStats:
        """The payload for `period` from the daily rollups and the current snapshot.

        Writes nothing but queued events: before opt-in the identity is the candidate.
        """
        await self.flush()
        raw = await self.store.get_settings()
        identity = self._identity(raw)
        return build_payload(
            totals=await self.store.rollup_totals(period.first_day, period.end_day),
            period=period,
            installation=self._installation(raw, identity),
            consent_version=raw.get("consent_version") or CONSENT_VERSION,
            fleet=sanitize_fleet(raw.get("fleet", {})),
            features=self._features,
            deletion_key_hash=deletion_key_hash(identity.deletion_secret),
        )

    async def next_period(self) -> TimePeriod:
        """The period the next report covers."""
        today = self._clock().date()
        anchor = await self.period_anchor()
        if anchor is None:
            return first_period(today)
        return period_containing(today, anchor)

    async def next_payload_json(self) -> str:
        """The exact text the next submission sends: a queued payload, or one built now."""
        for entry in await self.store.outbox_entries("pending"):
            return entry.payload
        return (await self.aggregate(await self.next_period())).to_json()

    async def preview(self) -> str:
        """What would be sent next, byte for byte (also before opting in)."""
        return await self.next_payload_json()

    async def preview_without_store(self) -> str:
        """The first report this installation would send, built in memory: call it on a
        service that is not started, and its file is neither created, read nor written.

        For setup dialogs that run before the user decided. The identity shown is this
        file's candidate, so a service on the file that opts in later in this process
        adopts the very id and deletion hash the user saw.
        """
        twin = UsageStatsService(
            ":memory:",
            app_version=self._app_version,
            deployment_mode=self._deployment_mode,
            time_zone=self._time_zone,
            environ=self._environ,
            clock=self._clock,
        )
        twin._candidate_key = self._candidate_key
        await twin.start()
        try:
            return await twin.preview()
        finally:
            await twin.stop()

    # --- the user's view --------------------------------------------------------------------

    async def local_stats(self, days: int = 30) -> LocalStats:
        """This installation's own statistics: the last seven days plus a daily history."""
        await self.flush()
        today = self._clock().date()
        week = TimePeriod.from_days(today - timedelta(days=6), today + timedelta(days=1))
        payload = await self.aggregate(week)
        first = today - timedelta(days=max(days, 1) - 1)
        per_day: dict[date, dict[str, int]] = {
            first + timedelta(days=i): {} for i in range(max(days, 1))
        }
        for day, event_type, count in await self.store.daily_totals(
            first, today + timedelta(days=1)
        ):
            if not event_type.startswith("_"):
                per_day[day][event_type] = count
        total, oldest = await self.store.count_events()
        settings = await self.get_settings()
        return LocalStats(
            settings=settings,
            installation=payload.installation if settings.installation_id else None,
            period=week,
            usage_stats=payload.usage_stats,
            printer_fleet=payload.printer_fleet,
            error_summary=payload.error_summary,
            event_counts=payload.event_counts,
            daily=[
                DailyCount(day=d, total=sum(c.values()), by_type=dict(sorted(c.items())))
                for d, c in per_day.items()
            ],
            total_events=total,
            events_dropped=self.recorder.counters.dropped,
            events_rejected=self.recorder.counters.rejected,
            oldest_event=oldest,
        )

    async def printer_fleet_stats(self) -> PrinterFleetStats:
        """The fleet snapshot as the payload reports it."""
        return PrinterFleetStats.from_counts(await self.get_printer_fleet())

    async def export(self) -> dict[str, Any]:
        """Everything stored locally about this installation, plus the next payload."""
        await self.flush()
        return {
            "exported_at": day_start(self._clock().date()).isoformat(),
            "settings": (await self.get_settings()).model_dump(mode="json"),
            "tables": await self.store.dump(),
            "next_payload": await self.preview(),
        }

    async def delete_all(self) -> None:
        """Forget everything, the installation id included: a later opt-in is a new installation.

        A deletion request the server has not confirmed yet outlives it: what it needs (the
        installation it names, that installation's secret and endpoint, and when to try again)
        is kept apart from the settings until the server agrees, then forgotten too.
        """
        await self.recorder.flush()
        raw = await self.store.get_settings()
        keep: dict[str, Any] = {}
        requests = pending_deletions(raw)
        if requests:
            state = raw.get(SUBMISSION_STATE_KEY)
            retry = state if isinstance(state, dict) else {}
            keep[PENDING_DELETIONS_KEY] = requests
            keep[SUBMISSION_STATE_KEY] = {
                key: retry[key] for key in DELETION_STATE_KEYS if key in retry
            } | {"deletion_pending": True}
        await self.store.delete_all(keep=keep)
        self._uptime_mark = time.monotonic()
        self._features = {}
        self._features_dirty = False
        _CANDIDATES.pop(self._candidate_key, None)
        self.notify_listeners()
