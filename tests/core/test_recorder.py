"""The recorder: never blocks or raises, bounded, batched, durable once flushed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from printernizer_usage_core.recorder import EventRecorder
from printernizer_usage_core.store import UsageStore


async def test_concurrent_callers_from_threads_and_tasks(store: UsageStore) -> None:
    recorder = EventRecorder(store, flush_interval=0.01, batch_size=500)
    await recorder.start()

    def worker() -> None:
        for _ in range(2_000):
            recorder.record("job_created", {"printer_type": "octoprint"})

    async def task() -> None:
        for i in range(2_000):
            recorder.record("job_completed", {"duration": i})
            if i % 100 == 0:
                await asyncio.sleep(0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(task() for _ in range(3)))
    await asyncio.to_thread(lambda: [t.join() for t in threads])
    await recorder.stop()
    assert recorder.pending == 0
    assert recorder.counters.written == 14_000
    assert (await store.count_events())[0] == 14_000


async def test_queue_is_bounded_and_drops_are_counted(store: UsageStore) -> None:
    recorder = EventRecorder(store, max_queue=10)
    results = [recorder.record("job_created") for _ in range(15)]
    assert results.count(True) == 10
    assert recorder.counters.dropped == 5
    assert await recorder.flush() == 10


async def test_record_never_raises(store: UsageStore) -> None:
    recorder = EventRecorder(store)

    class Evil(dict):
        def items(self):
            raise RuntimeError("boom")

    assert recorder.record("job_created", Evil(a=1)) is False
    assert recorder.record("nope") is False
    assert recorder.record(["unhashable"]) is False  # type: ignore[arg-type]
    assert recorder.counters.rejected == 3


async def test_a_failed_write_keeps_the_events_for_the_next_try(store: UsageStore) -> None:
    recorder = EventRecorder(store)
    recorder.record("job_created")
    recorder.record("job_created")
    await store.close()
    assert await recorder.flush() == 0
    assert recorder.pending == 2
    assert recorder.counters.write_errors == 1
    await store.open()
    assert await recorder.flush() == 2


async def test_listeners_hear_about_written_batches(store: UsageStore) -> None:
    recorder = EventRecorder(store)
    heard: list[int] = []

    def broken(_count: int) -> None:
        raise RuntimeError("listener bug")

    remove = recorder.add_listener(heard.append)
    recorder.add_listener(broken)
    recorder.record("job_created")
    await recorder.flush()
    remove()
    recorder.record("job_created")
    await recorder.flush()
    assert heard == [1]


async def test_background_writer_writes_without_flush(store: UsageStore) -> None:
    recorder = EventRecorder(store, flush_interval=0.01)
    await recorder.start()
    await recorder.start()
    recorder.record("app_start")
    for _ in range(200):
        if recorder.counters.written:
            break
        await asyncio.sleep(0.01)
    assert recorder.counters.written == 1
    await recorder.stop()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from printernizer_usage_core.service import UsageStatsService

    async def main():
        service = UsageStatsService(sys.argv[1], app_version="1.0.0", environ={}, time_zone="UTC")
        await service.start()
        total = 0
        for round_ in range(5):
            for _ in range(1000):
                service.record_event("job_created", {"printer_type": "bambu_lab"})
            total += await service.flush()
            print(f"FLUSHED {total}", flush=True)
        while True:  # keep writing until killed: these later events may or may not survive
            for _ in range(100):
                service.record_event("job_completed")
            await service.flush()

    asyncio.run(main())
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_flushed_events_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    acknowledged = 0
    assert child.stdout is not None
    for line in child.stdout:
        acknowledged = int(line.split()[1])
        if acknowledged >= 5000:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        created = conn.execute(
            "SELECT COUNT(*) FROM usage_events e JOIN usage_kinds k ON k.id = e.kind "
            "WHERE k.event_type = 'job_created'"
        ).fetchone()[0]
        rollup = conn.execute(
            "SELECT SUM(a.count) FROM usage_aggregates a JOIN usage_series s ON s.id = a.series "
            "WHERE s.event_type = 'job_created' AND s.dimension = ''"
        ).fetchone()[0]
    assert acknowledged == 5000
    assert created == rollup == 5000
