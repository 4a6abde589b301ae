"""Importing Printernizer's own usage_* tables from a real SQLite file, once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from printernizer_usage_core.printernizer import DB_FILE_NAME, UsageStatisticsService
from printernizer_usage_core.upstream_migration import MARKER_KEY, migrate_upstream_tables

from .call_sites import CALL_SITES
from .conftest import Database

# Printernizer's usage tables (docs/development/usage-statistics-plan.md, written for SQLite:
# its inline INDEX clauses become CREATE INDEX statements).
UPSTREAM_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    timestamp DATETIME NOT NULL,
    metadata TEXT,
    submitted BOOLEAN DEFAULT 0,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_event_type ON usage_events (event_type);
CREATE INDEX IF NOT EXISTS idx_timestamp ON usage_events (timestamp);
CREATE INDEX IF NOT EXISTS idx_submitted ON usage_events (submitted);
CREATE TABLE IF NOT EXISTS usage_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
);
"""
INSTALLATION_ID = "550e8400-e29b-41d4-a716-446655440000"
SECRET_NAME = "secret_project_for_alice.3mf"


def upstream_database(path: Path, *, opted_in: bool = True) -> None:
    """Printernizer's database file with usage rows as its repository writes them."""
    now = datetime.now(UTC).replace(tzinfo=None)  # upstream stores naive UTC
    rows: list[tuple[str, str, str | None]] = []
    for i, site in enumerate(CALL_SITES):
        when = (now - timedelta(days=2, minutes=i)).isoformat()
        rows.append((site.event_type, when, json.dumps(site.metadata)))
    rows += [
        # Upstream's own "don't do this" example: the event counts, the file name never lands.
        (
            "file_downloaded",
            (now - timedelta(days=1)).isoformat(),
            json.dumps({"file_name": SECRET_NAME}),
        ),
        # SQLite's CURRENT_TIMESTAMP format, and metadata that is not JSON.
        ("job_failed", (now - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S"), "{not json"),
        ("job_completed", "yesterday-ish", "{}"),  # no readable time: refused
    ]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(UPSTREAM_SCHEMA)
        db.executemany(
            "INSERT INTO usage_events (id, event_type, timestamp, metadata, submitted) "
            "VALUES (?, ?, ?, ?, 0)",
            [(str(uuid.uuid4()), *row) for row in rows],
        )
        db.executemany(
            "INSERT INTO usage_settings (key, value) VALUES (?, ?)",
            [
                ("opt_in_status", "enabled" if opted_in else "disabled"),
                ("installation_id", INSTALLATION_ID),
                ("first_run_date", "2026-11-01T10:12:13.123456"),
                ("last_submission_date", "2026-11-20T08:00:00"),
            ],
        )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_initialize_imports_upstream_tables_once(tmp_path: Path) -> None:
    source = tmp_path / "printernizer.db"
    upstream_database(source)
    before = digest(source)
    service = UsageStatisticsService(
        Database(source), app_version="2.7.0", environ={}, submit=False
    )
    await service.initialize()

    settings = await service.core.get_settings()
    assert str(settings.installation_id) == INSTALLATION_ID  # the id is kept
    assert settings.opted_in and settings.consent_version == "1.0"  # the choice is kept
    assert settings.first_seen == datetime(2026, 11, 1, tzinfo=UTC)  # day only
    report = await service.core.store.get_setting(MARKER_KEY)
    expected_kept = sum(1 for s in CALL_SITES if s.kept is not None) + 2
    assert report["events_read"] == len(CALL_SITES) + 3
    assert report["events_imported"] == expected_kept
    assert report["events_refused"] == 2  # the unknown event type and the unreadable time

    stored = await service.core.store.get_events()
    assert len(stored) == expected_kept
    kept = sorted(json.dumps([e.event_type, e.metadata], sort_keys=True) for e in stored)
    expected = sorted(
        json.dumps([s.event_type, s.kept], sort_keys=True) for s in CALL_SITES if s.kept is not None
    ) + [json.dumps(["file_downloaded", {}]), json.dumps(["job_failed", {}])]
    assert kept == sorted(expected)
    local = await service.get_local_stats()
    assert local.installation_id == INSTALLATION_ID and local.opt_in_status == "enabled"
    await service.shutdown()

    assert SECRET_NAME.encode() not in (tmp_path / DB_FILE_NAME).read_bytes()
    assert digest(source) == before  # Printernizer's file is only read

    # A restart does not import again.
    again = UsageStatisticsService(Database(source), app_version="2.7.0", environ={}, submit=False)
    await again.initialize()
    assert len(await again.core.store.get_events()) == expected_kept
    assert await migrate_upstream_tables(again.core, source) is None
    await again.shutdown()


async def test_opted_out_upstream_keeps_id_and_stays_off(tmp_path: Path) -> None:
    source = tmp_path / "printernizer.db"
    upstream_database(source, opted_in=False)
    service = UsageStatisticsService(
        Database(source), app_version="2.7.0", environ={}, submit=False
    )
    await service.initialize()
    settings = await service.core.get_settings()
    assert not settings.opted_in
    assert str(settings.installation_id) == INSTALLATION_ID
    # Opting in later keeps the very same id.
    assert (await service.opt_in()).installation_id == INSTALLATION_ID
    await service.shutdown()


async def test_nothing_to_import(tmp_path: Path) -> None:
    service = UsageStatisticsService(
        db_path=tmp_path / "ours.db", app_version="2.7.0", environ={}, submit=False
    )
    await service.initialize()
    assert await migrate_upstream_tables(service.core, tmp_path / "missing.db") is None
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as db, db:
        db.execute("CREATE TABLE printers (id TEXT)")
    assert await migrate_upstream_tables(service.core, other) is None
    assert await service.core.store.get_setting(MARKER_KEY) is None
    broken = tmp_path / "broken.db"
    with contextlib.closing(sqlite3.connect(broken)) as db, db:
        db.execute("CREATE TABLE usage_settings (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO usage_settings VALUES ('installation_id', 'not-a-uuid')")
    report = await migrate_upstream_tables(service.core, broken)
    assert report is not None and not report.installation_id_kept and report.events_read == 0
    assert (await service.core.get_settings()).installation_id is None
    await service.shutdown()
