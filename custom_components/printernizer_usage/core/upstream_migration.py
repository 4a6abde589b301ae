"""One-time import of Printernizer's own usage_events / usage_settings tables into our store."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from .models import LEGACY_SCHEMA_VERSION, day_start
from .printernizer_compat import translate_event
from .recorder import EventRecorder

if TYPE_CHECKING:
    from .service import UsageStatsService

_LOGGER = logging.getLogger(__name__)

# Set in our store once the import ran, so it never runs twice.
MARKER_KEY = "printernizer_migration"
_CHUNK = 5_000


@dataclass(slots=True)
class MigrationReport:
    """What the import did (numbers only)."""

    events_read: int = 0
    events_imported: int = 0
    events_refused: int = 0
    installation_id_kept: bool = False
    opted_in: bool = False


def _timestamp(value: Any) -> float | None:
    """Upstream wrote naive UTC ISO text (or SQLite's 'YYYY-MM-DD HH:MM:SS')."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _metadata(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None  # unreadable metadata is left behind; the event type may still count


def _read_only_uri(path: Path) -> str | None:
    """A read-only SQLite URI for `path`, or None when there is no such file."""
    if not path.is_file():
        return None
    return f"{path.resolve().as_uri()}?mode=ro"


async def _tables(db: aiosqlite.Connection) -> set[str]:
    async with db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
        return {row[0] for row in await cursor.fetchall()}


async def _import_events(db: aiosqlite.Connection, service: UsageStatsService) -> MigrationReport:
    report = MigrationReport()
    stamp = 0.0
    # The core's own recorder, with a clock that answers each old event's time: every row goes
    # through the same privacy guard and rollups as a live event.
    recorder = EventRecorder(service.store, max_queue=_CHUNK * 2, clock=lambda: stamp)
    async with db.execute(
        "SELECT event_type, timestamp, metadata FROM usage_events ORDER BY timestamp"
    ) as cursor:
        while rows := await cursor.fetchmany(_CHUNK):
            for event_type, raw_time, raw_meta in rows:
                report.events_read += 1
                ts = _timestamp(raw_time)
                if ts is None:
                    report.events_refused += 1
                    continue
                stamp = ts
                name, meta = translate_event(event_type, _metadata(raw_meta))
                if recorder.record(name, meta):
                    report.events_imported += 1
                else:
                    report.events_refused += 1
            await recorder.flush()
    return report


async def _import_settings(
    db: aiosqlite.Connection, service: UsageStatsService, report: MigrationReport
) -> None:
    async with db.execute("SELECT key, value FROM usage_settings") as cursor:
        old = {str(key): value for key, value in await cursor.fetchall()}
    values: dict[str, Any] = {}
    try:
        values["installation_id"] = str(uuid.UUID(str(old.get("installation_id"))))
        report.installation_id_kept = True
    except ValueError:
        pass
    first = _timestamp(old.get("first_run_date")) if old.get("first_run_date") else None
    if first is not None:
        values["first_seen"] = day_start(datetime.fromtimestamp(first, UTC).date()).isoformat()
    if values:
        await service.store.set_settings(values)
    if old.get("opt_in_status") == "enabled":
        # The user agreed under Printernizer's first policy; that is the version recorded.
        await service.opt_in(LEGACY_SCHEMA_VERSION)
        report.opted_in = True


async def migrate_upstream_tables(
    service: UsageStatsService, source: str | Path
) -> MigrationReport | None:
    """Import Printernizer's usage_* tables from `source` (read only) once; None when not run.

    Settings keep their meaning (sharing on/off, installation id, first run day); events are
    imported only as far as our privacy guard lets them through. The source is never changed.
    """
    if await service.store.get_setting(MARKER_KEY) is not None:
        return None
    uri = await asyncio.to_thread(_read_only_uri, Path(source))
    if uri is None:
        return None
    async with aiosqlite.connect(uri, uri=True) as db:
        tables = await _tables(db)
        if not {"usage_events", "usage_settings"} & tables:
            return None
        report = (
            await _import_events(db, service) if "usage_events" in tables else MigrationReport()
        )
        if "usage_settings" in tables:
            await _import_settings(db, service, report)
    await service.store.set_setting(MARKER_KEY, asdict(report))
    _LOGGER.info(
        "imported Printernizer usage statistics: %d events kept, %d refused",
        report.events_imported,
        report.events_refused,
    )
    return report
