"""The HTTP client for Printernizer's Docker mode against the real service over real HTTP."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from printernizer_usage_core.printernizer_client import UsageStatsClient

from printernizer_usage_service.server import free_port
from tests.service.conftest import RunningService, ServiceFactory

from .call_sites import CALL_SITES
from .conftest import Printer


def keyed(event_type: str, metadata: dict[str, object] | None) -> str:
    return json.dumps([event_type, metadata], sort_keys=True)


async def stored(svc: RunningService) -> list[str]:
    """What the service keeps, as sortable text."""
    await svc.runtime.service.flush()
    events = await svc.runtime.service.store.get_events()
    return sorted(keyed(e.event_type, dict(e.metadata)) for e in events)


async def until(condition: object, *, seconds: float = 60) -> None:
    """Wait for the background sender (event-driven by the client; this only observes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "the client did not deliver"
        await asyncio.sleep(0.02)


async def test_call_sites_delivered_over_localhost(start_service: ServiceFactory) -> None:
    svc = await start_service()
    # As Printernizer's settings would name it: a host name (resolved by the system resolver).
    client = UsageStatsClient(
        f"http://localhost:{svc.config.port}", batch_size=4, flush_interval=3600
    )
    await client.start()
    try:
        for site in CALL_SITES:
            assert await client.record_event(site.event_type, site.metadata) is True
        # Full batches go at once; the remainder waits for the interval or an explicit flush.
        await until(lambda: client.counters.sent + client.counters.dropped_refused >= 12)
        await client.flush()
    finally:
        await client.stop()
    expected = sorted(keyed(s.event_type, s.kept) for s in CALL_SITES if s.kept is not None)
    assert await stored(svc) == expected
    assert client.counters.sent == len(expected)
    assert client.counters.dropped_refused == 1  # the event type Printernizer does not know either
    assert client.pending == 0


async def test_service_down_memory_bounded_then_delivered(start_service: ServiceFactory) -> None:
    port = free_port()
    client = UsageStatsClient(
        f"http://localhost:{port}", max_pending=50, batch_size=20, retry_base=0.01, retry_cap=0.05
    )
    await client.start()
    try:
        for _ in range(200):
            client.record("job_completed", {"duration_minutes": 42})
        assert client.pending == 50
        assert client.counters.dropped_full == 150
        assert await client.flush() == 0  # nobody listens: kept, not raised
        await until(lambda: client.counters.failed_attempts >= 3)
        assert client.pending == 50
        svc = await start_service(port=port)
        await until(lambda: client.pending == 0)
    finally:
        await client.stop()
    assert client.counters.sent == 50
    assert await stored(svc) == [keyed("job_completed", {"duration": "15-60m"})] * 50


async def test_refused_batches_are_not_retried_forever(start_service: ServiceFactory) -> None:
    svc = await start_service(token="a-long-enough-token")
    client = UsageStatsClient(svc.url)
    client.record("app_start", {"app_version": "2.7.0"})
    assert await client.flush() == 0
    assert client.pending == 0 and client.counters.dropped_refused == 1
    authorised = UsageStatsClient(svc.url, token="a-long-enough-token")
    authorised.record("app_start", {"app_version": "2.7.0"})
    assert await authorised.flush() == 1
    await client.stop()
    await authorised.stop()
    assert await stored(svc) == [keyed("app_start", {"app_version": "2.7.0"})]


async def test_only_plain_values_leave_the_process(svc: RunningService) -> None:
    class Secret:
        def __str__(self) -> str:
            return "/home/alice/secret.3mf"

    client = UsageStatsClient(svc.url)
    assert client.record("file_uploaded", {"file_size_mb": 3, "path": Secret()}) is True
    assert client.record(object(), {}) is False  # not an event type: refused locally
    assert await client.flush() == 1
    await client.stop()
    assert await stored(svc) == [keyed("file_uploaded", {"file_size": "1-10MB"})]


async def test_one_huge_number_does_not_cost_the_batch(svc: RunningService) -> None:
    client = UsageStatsClient(svc.url)
    for _ in range(5):
        assert client.record("job_completed", {})
    assert client.record("file_uploaded", {"file_size_bytes": 10**30}) is True
    assert await client.flush() == 6
    await client.stop()
    assert client.counters.dropped_refused == 0
    assert len(await stored(svc)) == 6


async def test_fleet_snapshot(svc: RunningService, http: aiohttp.ClientSession) -> None:
    client = UsageStatsClient(svc.url)
    assert await client.send_fleet([Printer("bambu_lab"), Printer("prusa"), Printer("bambu_lab")])
    await client.stop()
    async with http.get(svc.api("/fleet")) as resp:
        fleet = (await resp.json())["printer_fleet"]
    assert fleet["printer_type_counts"] == {"bambu_lab": 2, "prusa_core": 1}
    down = UsageStatsClient(f"http://127.0.0.1:{free_port()}")
    assert await down.send_fleet([Printer("bambu_lab")]) is False
    await down.stop()


async def test_batches_shrink_to_what_the_service_takes(start_service: ServiceFactory) -> None:
    svc = await start_service(max_batch=5)
    client = UsageStatsClient(svc.url, batch_size=200)
    for _ in range(23):
        client.record("job_failed", {})
    assert await client.flush() == 23
    await client.stop()
    assert client.counters.sent == 23 and client.pending == 0
    assert await stored(svc) == [keyed("job_failed", {})] * 23
