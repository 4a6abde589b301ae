"""The local store on real SQLite files: migrations, events, rollups, settings, outbox."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from printernizer_usage_core.store import SCHEMA_VERSION, EventRow, StoreError, UsageStore

T0 = datetime(2026, 3, 18, 12, tzinfo=UTC).timestamp()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_migrations_go_up_and_down_on_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    store = UsageStore(path)
    await store.open(target_version=1)
    assert await store.schema_version() == 1
    assert "usage_outbox" not in tables(path)
    await store.migrate(SCHEMA_VERSION)
    assert {"usage_events", "usage_settings", "usage_aggregates", "usage_outbox"} <= tables(path)
    await store.insert_events([EventRow("job_created", T0, {})])
    await store.migrate(1)
    assert "usage_outbox" not in tables(path)
    assert (await store.get_events())[0].event_type == "job_created"
    await store.migrate(0)
    assert not {"usage_events", "usage_settings"} & tables(path)
    with pytest.raises(StoreError, match="no schema version"):
        await store.migrate(SCHEMA_VERSION + 1)
    await store.close()
    await store.close()


async def test_a_database_from_a_newer_version_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = UsageStore(path)
    with pytest.raises(StoreError, match="newer than this version"):
        await store.open()
    assert not store.is_open
    with pytest.raises(StoreError, match="not open"):
        await store.get_settings()


async def test_wal_mode_is_used(store: UsageStore) -> None:
    async with store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"


async def test_events_roll_up_per_day_and_dimension(store: UsageStore) -> None:
    day2 = T0 + 86400
    await store.insert_events(
        [
            EventRow("error_occurred", T0, {"error_type": "KeyError"}, "KeyError"),
            EventRow("error_occurred", T0 + 1, {"error_type": "KeyError"}, "KeyError"),
            EventRow("error_occurred", day2, {}, ""),
            EventRow("job_created", day2, {}),
        ]
    )
    rows = await store.rollups(date(2026, 3, 18), date(2026, 3, 20))
    assert rows == [
        ("2026-03-18", "error_occurred", "", 2),
        ("2026-03-18", "error_occurred", "KeyError", 2),
        ("2026-03-19", "error_occurred", "", 1),
        ("2026-03-19", "job_created", "", 1),
    ]
    totals = await store.rollup_totals(date(2026, 3, 18), date(2026, 3, 20))
    assert sorted(totals) == [
        ("error_occurred", "", 3),
        ("error_occurred", "KeyError", 2),
        ("job_created", "", 1),
    ]
    assert await store.first_day() == date(2026, 3, 18)
    assert await store.insert_events([]) == 0


async def test_get_events_filters(store: UsageStore) -> None:
    await store.insert_events(
        [EventRow("job_created", T0 + i * 3600, {"printer_type": "octoprint"}) for i in range(5)]
    )
    await store.insert_events([EventRow("job_completed", T0 + 1800, {})])
    since = datetime.fromtimestamp(T0 + 3600, UTC)
    until = datetime.fromtimestamp(T0 + 4 * 3600, UTC)
    created = await store.get_events(event_type="job_created", since=since, until=until)
    assert [e.timestamp.hour for e in created] == [15, 14, 13]
    assert created[0].metadata == {"printer_type": "octoprint"}
    assert len(await store.get_events(limit=2)) == 2
    assert len(await store.get_events(limit=2, offset=5)) == 1
    marked = await store.mark_submitted(datetime.fromtimestamp(T0 + 2 * 3600, UTC))
    assert marked == 3
    assert len(await store.get_events(submitted=False)) == 3
    assert (await store.count_events())[0] == 6


async def test_prune_keeps_rollups(store: UsageStore) -> None:
    await store.insert_events(
        [EventRow("job_created", T0 - 100 * 86400, {}), EventRow("job_created", T0, {})]
    )
    assert await store.prune_events(datetime.fromtimestamp(T0 - 90 * 86400, UTC)) == 1
    assert (await store.count_events())[0] == 1
    assert len(await store.rollups(date(2025, 1, 1), date(2027, 1, 1))) == 2
    assert await store.prune_rollups(date(2026, 1, 1)) == 1
    assert await store.count_events() != (0, None)


async def test_uptime_is_accounted_per_day(store: UsageStore) -> None:
    await store.add_uptime(date(2026, 3, 18), 1800)
    await store.add_uptime(date(2026, 3, 18), 1800)
    await store.add_uptime(date(2026, 3, 18), 0)
    assert await store.rollup_totals(date(2026, 3, 18), date(2026, 3, 19)) == [
        ("_uptime_seconds", "", 3600)
    ]


async def test_settings_round_trip_and_delete(store: UsageStore) -> None:
    assert await store.get_setting("missing", 5) == 5
    await store.set_settings({"a": {"x": [1, 2]}, "b": True})
    assert await store.get_settings() == {"a": {"x": [1, 2]}, "b": True}
    await store.set_setting("a", None)
    assert await store.get_settings() == {"b": True}


async def test_outbox_holds_each_period_once(store: UsageStore) -> None:
    assert await store.outbox_put("2026-03-02", "2026-03-09", "id-1", "{}")
    assert not await store.outbox_put("2026-03-02", "2026-03-09", "id-1", "{}")
    await store.outbox_put("2026-03-09", "2026-03-16", "id-2", "{}")
    await store.outbox_update("2026-03-02", status="sent", attempts=1, sent_at=5)
    assert [e.submission_id for e in await store.outbox_entries("pending")] == ["id-2"]
    assert [e.status for e in await store.outbox_entries()] == ["sent", "pending"]
    assert await store.outbox_clear("sent") == 1
    assert await store.outbox_clear() == 1


async def test_dump_and_delete_all(store: UsageStore) -> None:
    await store.insert_events([EventRow("job_created", T0, {})])
    await store.set_setting("installation_id", "x")
    dump = await store.dump()
    assert len(dump["usage_events"]) == 1
    assert dump["usage_settings"][0]["key"] == "installation_id"
    await store.delete_all()
    dump = await store.dump()
    assert all(not rows for rows in dump.values())


async def test_a_failed_transaction_leaves_nothing_behind(store: UsageStore) -> None:
    with pytest.raises(Exception):
        await store.insert_events([EventRow("job_created", T0, {"x": object()})])  # type: ignore[dict-item]
    assert await store.count_events() == (0, None)
    assert await store.rollups(date(2026, 1, 1), date(2027, 1, 1)) == []
    with pytest.raises(Exception):
        await store.set_settings({"ok": 1, "bad": object()})
    assert await store.get_settings() == {}


async def test_store_creates_missing_folders(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "a" / "b" / "usage.db")
    await store.open()
    await store.open()
    assert (tmp_path / "a" / "b" / "usage.db").exists()
    await store.close()
    assert timedelta(days=1)


async def test_concurrent_writers_take_turns(store: UsageStore) -> None:
    """Transactions on the one shared connection never interleave (found by the service)."""
    import asyncio

    async def events(n: int) -> None:
        for i in range(20):
            await store.insert_events(
                [EventRow("job_created", T0 + n * 100 + i, {}) for _ in range(50)]
            )

    async def settings(n: int) -> None:
        for i in range(20):
            await store.set_settings({f"k{n}": i, "shared": n})
            await store.outbox_put(f"2026-01-{n:02}", "x", f"id-{n}-{i}", "{}")

    await asyncio.gather(*(events(n) for n in range(3)), *(settings(n) for n in range(1, 4)))
    assert (await store.count_events())[0] == 3 * 20 * 50
    assert {k: v for k, v in (await store.get_settings()).items() if k.startswith("k")} == {
        "k1": 19,
        "k2": 19,
        "k3": 19,
    }


async def test_service_writes_during_a_flush(tmp_path: Path) -> None:
    import asyncio

    from printernizer_usage_core.service import UsageStatsService

    service = UsageStatsService(tmp_path / "u.db", app_version="1.0.0", environ={}, time_zone="UTC")
    await service.start()
    for _ in range(500):
        service.record_event("job_completed", {"printer_type": "bambu_lab"})
    results = await asyncio.gather(
        service.flush(), service.opt_in(), service.set_features({"a": True})
    )
    assert results[0] == 500
    assert results[1].opted_in
    await asyncio.wait_for(service.stop(), 10)


async def test_a_writer_cancelled_at_begin_leaves_no_transaction_open(store: UsageStore) -> None:
    """A task cancelled while its BEGIN waits for the connection's thread (a sender stopped
    mid-round, say): the BEGIN still runs there, and must not block every later write."""
    busy = asyncio.ensure_future(store.db._execute(time.sleep, 0.3))  # the thread is busy
    await asyncio.sleep(0)

    async def write() -> None:
        await store.add_uptime(date(2026, 11, 30), 60)

    writer = asyncio.create_task(write())
    await asyncio.sleep(0.05)  # its BEGIN is queued behind the busy call
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    await busy
    await store.add_uptime(date(2026, 11, 30), 120)
    # Only the write that was not cancelled counts.
    assert await store.rollup_totals(date(2026, 11, 30), date(2026, 12, 1)) == [
        ("_uptime_seconds", "", 120)
    ]


async def test_pruning_leaves_no_name_behind_and_the_export_shows_every_table(
    store: UsageStore,
) -> None:
    old, new = T0 - 500 * 86400, T0
    await store.insert_events(
        [
            EventRow("error_occurred", old, {"error_type": "PrinterTimeoutError"}, "error_type"),
            EventRow("job_created", new, {}),
        ]
    )
    dump = await store.dump()
    assert {"usage_kinds", "usage_series"} <= set(dump)
    assert "PrinterTimeoutError" in str(dump["usage_kinds"])
    await store.prune_events(datetime.fromtimestamp(T0 - 90 * 86400, UTC))
    await store.prune_rollups(date(2026, 1, 1))
    dump = await store.dump()
    assert "PrinterTimeoutError" not in str(dump)
    assert [k["event_type"] for k in dump["usage_kinds"]] == ["job_created"]
    assert {s["event_type"] for s in dump["usage_series"]} == {"job_created"}
    # Interned ids were forgotten with their rows: the same kind can be written again.
    await store.insert_events(
        [EventRow("error_occurred", new, {"error_type": "PrinterTimeoutError"}, "error_type")]
    )
    assert (await store.count_events())[0] == 2
    assert len(await store.rollups(date(2026, 3, 18), date(2026, 3, 19))) == 3


def test_the_sql_driver_does_not_log_statements_and_their_values() -> None:
    # aiosqlite logs every statement with its parameters (the deletion secret among them)
    # at DEBUG; importing the store keeps that logger at INFO unless someone chose a level.
    import logging

    assert logging.getLogger("aiosqlite").getEffectiveLevel() >= logging.INFO
