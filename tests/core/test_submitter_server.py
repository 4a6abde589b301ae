"""Submitter against the REAL aggregation server (Quart on hypercorn, in-process, 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("aggregation.app")

from hypercorn.asyncio import serve
from hypercorn.config import Config
from printernizer_usage_core.models import SharingState
from printernizer_usage_core.schedule import first_period, period_containing
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.submitter import OFFSET_KEY, Submitter

from aggregation.app import create_app
from aggregation.settings import Settings

from .submitter_helpers import Clock, free_port, wait_for

START = datetime(2026, 3, 18, 14, 30, 5, tzinfo=UTC)
LOGGER = "printernizer_usage_core.submitter"


class AggregationServer:
    """The real aggregation app served by hypercorn on 127.0.0.1; can be stopped and restarted
    on the same port and database (an outage)."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'aggregation.db'}",
            rate_limit_per_hour=100,
            address_rate_limit_per_minute=0,
            log_level="WARNING",
            reports_dir=str(tmp_path / "reports"),
            report_schedule="off",
            port=self.port,
            host="127.0.0.1",
        ).with_changes(**settings)
        self.app: Any = None
        self._shutdown: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, **changes: Any) -> None:
        if changes:
            self.settings = self.settings.with_changes(**changes)
        self.app = create_app(self.settings)
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.graceful_timeout = 1.0
        config.accesslog = None
        config.errorlog = None
        self._shutdown = asyncio.Event()
        self._task = asyncio.create_task(
            serve(self.app, config, shutdown_trigger=self._shutdown.wait)  # type: ignore[arg-type]
        )

        async def healthy() -> bool:
            if self._task is not None and self._task.done():
                self._task.result()  # surface a start-up error
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{self.url}/health") as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(healthy, limit=15)

    async def stop(self) -> None:
        if self._task is not None and self._shutdown is not None:
            self._shutdown.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
            self._task = None

    @property
    def repo(self) -> Any:
        return self.app.config["REPOSITORY"]

    async def count(self, installation_id: str | None = None) -> int:
        return int(await self.repo.count_submissions(installation_id))


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[AggregationServer]:
    agg = AggregationServer(tmp_path)
    await agg.start()
    yield agg
    await agg.stop()


@pytest.fixture
async def usage(tmp_path: Path, clock: Clock) -> AsyncIterator[UsageStatsService]:
    service = UsageStatsService(
        tmp_path / "usage.db",
        app_version="2.4.0",
        time_zone="Europe/Berlin",
        environ={},
        clock=clock,
    )
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def submitter(
    usage: UsageStatsService, server: AggregationServer
) -> AsyncIterator[Submitter]:
    sub = Submitter(
        usage,
        default_endpoint=server.url,
        timeout=5.0,
        rng=random.Random(11),
        poll_interval=0.05,
        min_sleep=0.01,
    )
    yield sub
    await sub.stop()


async def _opt_in(usage: UsageStatsService) -> str:
    return str((await usage.opt_in()).installation_id)


async def test_opt_in_first_submission_stored_on_server(
    usage: UsageStatsService, submitter: Submitter, server: AggregationServer
) -> None:
    usage.record_event("job_completed", {"printer_type": "bambu_lab"})
    await usage.set_printer_fleet({"bambu_lab": 1, "octoprint": 2})
    installation_id = await _opt_in(usage)
    await submitter.start()  # the background loop sends the first period at once
    await wait_for(lambda: server.count(installation_id))

    async def acknowledged() -> bool:
        return (await submitter.status()).last_success is not None

    await wait_for(acknowledged)  # the answer is recorded right after the server stored it
    assert await server.count(installation_id) == 1
    status = await submitter.status()
    assert status.state is SharingState.ON
    assert status.last_success == START
    entry = (await usage.store.outbox_entries())[0]
    assert entry.status == "sent"
    assert entry.submission_id in await server.repo.submission_ids()
    assert entry.period_start == first_period(START.date()).first_day.isoformat()


async def test_weekly_schedule_with_frozen_clock(
    usage: UsageStatsService, submitter: Submitter, server: AggregationServer, clock: Clock
) -> None:
    installation_id = await _opt_in(usage)
    await submitter.run_pending()
    offset = timedelta(seconds=await usage.store.get_setting(OFFSET_KEY))
    close = period_containing(START.date(), START.date()).end
    expected = 1
    for week in range(3):
        clock.now = close + timedelta(days=7 * week) + offset - timedelta(seconds=1)
        await submitter.run_pending()
        assert await server.count(installation_id) == expected
        clock.advance(seconds=1)
        await submitter.run_pending()
        expected += 1
        assert await server.count(installation_id) == expected
        clock.advance(days=3)
        await submitter.run_pending()
        assert await server.count(installation_id) == expected


async def test_server_down_three_weeks_then_all_arrive_once(
    usage: UsageStatsService, submitter: Submitter, server: AggregationServer, clock: Clock
) -> None:
    installation_id = await _opt_in(usage)
    await submitter.run_pending()
    assert await server.count(installation_id) == 1
    offset = timedelta(seconds=await usage.store.get_setting(OFFSET_KEY))
    await server.stop()
    close = period_containing(START.date(), START.date()).end
    for week in range(3):
        clock.now = close + timedelta(days=7 * week) + offset
        for _ in range(3):  # several retries per week while the server is away
            status = await submitter.run_pending()
            clock.advance(hours=7)
        assert status.pending_periods == week + 1
    assert status.state is SharingState.FAILING
    await server.start()
    status = await submitter.run_pending()
    assert status.pending_periods == 0
    assert status.state is SharingState.ON
    assert await server.count(installation_id) == 4
    entries = await usage.store.outbox_entries()
    assert {e.submission_id for e in entries} <= await server.repo.submission_ids()
    # A repeated send of an acknowledged period is a duplicate, not a second row.
    await submitter.submit_now()
    assert await server.count(installation_id) == 4


async def test_429_retry_after_respected(
    usage: UsageStatsService,
    submitter: Submitter,
    server: AggregationServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await server.stop()
    await server.start(rate_limit_per_hour=1)
    installation_id = await _opt_in(usage)
    await submitter.run_pending()
    offset = timedelta(seconds=await usage.store.get_setting(OFFSET_KEY))
    clock.now = period_containing(START.date(), START.date()).end + offset
    with caplog.at_level(logging.INFO, logger=LOGGER):
        status = await submitter.run_pending()
        assert "HTTP 429" in (status.last_error or "")
        assert status.pending_periods == 1
        assert status.next_attempt is not None
        wait = (status.next_attempt - clock.now).total_seconds()
        assert 0 < wait <= 3600
        clock.advance(seconds=wait - 1)
        await submitter.run_pending()
        await submitter.submit_now()
    sends = [r for r in caplog.records if r.getMessage().startswith("Sending usage statistics")]
    assert len(sends) == 1  # nothing more before Retry-After ran out
    await server.stop()
    await server.start(rate_limit_per_hour=100)
    clock.advance(seconds=1)
    status = await submitter.run_pending()
    assert status.pending_periods == 0
    assert await server.count(installation_id) == 2


async def test_422_not_retried(
    usage: UsageStatsService, submitter: Submitter, server: AggregationServer, clock: Clock
) -> None:
    installation_id = await _opt_in(usage)
    # A stored payload the server's strict validation refuses (an unknown field).
    payload = (await usage.aggregate(first_period(START.date()))).model_dump(mode="json")
    payload["hostname"] = "workshop-pi"
    await usage.store.outbox_put(
        first_period(START.date()).first_day.isoformat(),
        START.date().isoformat(),
        payload["submission_id"],
        json.dumps(payload),
    )
    status = await submitter.run_pending()
    assert status.failed_periods == 1
    assert status.pending_periods == 0
    assert "HTTP 422" in (status.last_error or "")
    assert await server.count(installation_id) == 0
    clock.advance(hours=12)
    await submitter.run_pending()
    assert (await usage.store.outbox_entries())[0].attempts == 1


async def test_timeouts_retried(
    usage: UsageStatsService, server: AggregationServer, clock: Clock
) -> None:
    # A tiny timeout that no request meets (the group commit takes longer than 1 µs) ...
    sub = Submitter(usage, default_endpoint=server.url, timeout=0.000001, rng=random.Random(2))
    try:
        installation_id = await _opt_in(usage)
        status = await sub.run_pending()
        assert status.pending_periods == 1
        assert "no answer" in (status.last_error or "")
    finally:
        await sub.stop()
    # ... then a sane one: the retry lands, once (a stored first try makes it a duplicate).
    sub = Submitter(usage, default_endpoint=server.url, timeout=5.0, rng=random.Random(2))
    try:
        clock.advance(hours=1)
        status = await sub.run_pending()
        assert status.pending_periods == 0
        await asyncio.sleep(0.2)
        assert await server.count(installation_id) == 1
    finally:
        await sub.stop()


async def test_opt_out_with_deletion_leaves_no_row(
    usage: UsageStatsService, submitter: Submitter, server: AggregationServer, clock: Clock
) -> None:
    installation_id = await _opt_in(usage)
    await submitter.run_pending()
    clock.advance(days=8)
    await submitter.run_pending()
    assert await server.count(installation_id) == 2
    await submitter.opt_out(delete_remote=True)
    assert await server.count(installation_id) == 0
    assert await server.repo.deletion_key_hash(installation_id) == (False, None)
    settings = await usage.get_settings()
    assert settings.installation_id is None
    assert await usage.deletion_secret() is None
    assert (await submitter.status()).state is SharingState.OFF


async def test_preview_equals_sent_equals_logged(
    usage: UsageStatsService,
    submitter: Submitter,
    server: AggregationServer,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    installation_id = await _opt_in(usage)
    await submitter.run_pending()
    usage.record_event("job_completed", {"printer_type": "prusa_core"})
    usage.record_event("file_downloaded", {})
    close = period_containing(START.date(), START.date()).end
    clock.now = close
    await submitter.run_pending()
    preview = await usage.preview()
    clock.now = close + timedelta(days=1)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        await submitter.run_pending()
    logged = [
        r.args[-1]  # type: ignore[index]
        for r in caplog.records
        if r.name == LOGGER and r.getMessage().startswith("Sending usage statistics")
    ]
    assert logged == [preview]
    assert await server.count(installation_id) == 2
    sent = [
        e for e in await usage.store.outbox_entries() if e.period_end == close.date().isoformat()
    ]
    assert sent[0].payload == preview
    assert json.loads(preview)["submission_id"] in await server.repo.submission_ids()


async def test_slow_server_does_not_delay_record_event(
    usage: UsageStatsService, submitter: Submitter, server: AggregationServer
) -> None:
    # Make the real server slow: its storage writes take a while.
    repo = server.repo
    original = repo.write_batch
    stalled = asyncio.Event()

    async def slow_write(*args: Any, **kwargs: Any) -> Any:
        stalled.set()
        await asyncio.sleep(1.0)
        return await original(*args, **kwargs)

    repo.write_batch = slow_write
    installation_id = await _opt_in(usage)
    await submitter.start()
    await asyncio.wait_for(stalled.wait(), 5)
    took = []
    for _ in range(1000):
        started = time.perf_counter()
        usage.record_event("job_completed", {"printer_type": "klipper"})
        took.append(time.perf_counter() - started)
    # Waiting on the server would cost its whole one-second stall; a loaded CI machine (or
    # coverage tracing) costs at most a few milliseconds now and then.
    assert max(took) < 0.25
    assert sorted(took)[500] < 0.001
    await wait_for(lambda: server.count(installation_id), limit=10)


async def test_submit_key_sent_when_configured(
    usage: UsageStatsService, server: AggregationServer
) -> None:
    await server.stop()
    await server.start(submit_key="fleet-key")
    installation_id = await _opt_in(usage)
    without = Submitter(usage, default_endpoint=server.url, rng=random.Random(1))
    try:
        status = await without.run_pending()
        assert status.failed_periods == 1
        assert "HTTP 401" in (status.last_error or "")
    finally:
        await without.stop()
    await usage.store.outbox_clear()
    keyed = Submitter(usage, default_endpoint=server.url, submit_key="fleet-key")
    try:
        status = await keyed.run_pending()
        assert status.pending_periods == 0
        assert await server.count(installation_id) == 1
    finally:
        await keyed.stop()
