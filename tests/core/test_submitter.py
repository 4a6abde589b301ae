"""Submitter tests over real HTTP on 127.0.0.1 (a small aiohttp server that can misbehave)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from printernizer_usage_core.models import UNKNOWN_VERSION, SharingState
from printernizer_usage_core.schedule import first_period, period_containing
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.submitter import (
    DEFAULT_ENDPOINT,
    MAX_RETRY_AFTER,
    OFFSET_KEY,
    EndpointError,
    Submitter,
    backoff_delay,
    normalise_endpoint,
    parse_retry_after,
)

from .submitter_helpers import Clock, Scripted, SimServer, free_port, wait_for

START = datetime(2026, 3, 18, 14, 30, 5, tzinfo=UTC)
LOGGER = "printernizer_usage_core.submitter"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = SimServer()
    await server.start()
    yield server
    await server.stop()


class Rig:
    """One installation (service + submitter) pointed at a server."""

    def __init__(self, service: UsageStatsService, submitter: Submitter) -> None:
        self.service = service
        self.submitter = submitter

    async def opt_in(self) -> str:
        settings = await self.service.opt_in()
        return str(settings.installation_id)

    async def offset(self) -> timedelta:
        return timedelta(seconds=await self.service.store.get_setting(OFFSET_KEY))

    async def outbox(self) -> list[Any]:
        return await self.service.store.outbox_entries()


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path, clock: Clock, sim: SimServer) -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    async def factory(**kwargs: Any) -> Rig:
        environ = kwargs.pop("environ", {})
        path = kwargs.pop("path", tmp_path / f"usage{len(made)}.db")
        service = UsageStatsService(
            path,
            app_version=kwargs.pop("app_version", "2.4.0"),
            time_zone="Europe/Berlin",
            environ=environ,
            clock=clock,
        )
        await service.start()
        kwargs.setdefault("default_endpoint", sim.url)
        kwargs.setdefault("timeout", 0.5)
        kwargs.setdefault("rng", random.Random(7))
        kwargs.setdefault("poll_interval", 0.05)
        kwargs.setdefault("min_sleep", 0.01)
        rig = Rig(service, Submitter(service, **kwargs))
        made.append(rig)
        return rig

    yield factory
    for rig in made:
        await rig.submitter.stop()
        if rig.service.store.is_open:
            await rig.service.stop()


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    return await make_rig()


# --- the main path -------------------------------------------------------------------------


async def test_first_submission_right_after_opt_in(rig: Rig, sim: SimServer) -> None:
    rig.service.record_event("job_completed", {"printer_type": "bambu_lab"})
    await rig.service.flush()
    installation_id = await rig.opt_in()
    status = await rig.submitter.run_pending()

    rows = sim.rows_for(installation_id)
    assert len(rows) == 1
    anchor = await rig.service.period_anchor()
    assert anchor == START.date()
    assert rows[0]["period"]["start"].startswith(first_period(anchor).first_day.isoformat())
    assert status.state is SharingState.ON
    assert status.last_success == START
    assert status.pending_periods == 0
    assert status.last_error is None
    assert [e.status for e in await rig.outbox()] == ["sent"]
    # Events before the acknowledged period's end are flagged as reported.
    assert await rig.service.store.get_events(submitted=False) != []


async def test_a_delivery_tells_the_fronts(rig: Rig, sim: SimServer) -> None:
    """Sensors showing the last submission refresh when a report goes out, not on a timer."""
    installation_id = await rig.opt_in()
    heard: list[int] = []
    rig.service.add_listener(lambda: heard.append(1))
    status = await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1
    assert status.last_success is not None
    assert heard


async def test_events_marked_submitted_after_success(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    await rig.opt_in()
    await rig.submitter.run_pending()
    rig.service.record_event("job_completed", {"printer_type": "prusa_core"})
    await rig.service.flush()
    assert len(await rig.service.store.get_events(submitted=False)) == 1
    clock.advance(days=7)
    await rig.submitter.submit_now()
    assert await rig.service.store.get_events(submitted=False) == []
    assert len(await rig.service.store.get_events(submitted=True)) == 1


async def test_weekly_schedule_with_frozen_clock(rig: Rig, sim: SimServer, clock: Clock) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1
    offset = await rig.offset()
    assert timedelta(0) <= offset < timedelta(days=1)
    anchor = START.date()
    second = period_containing(anchor, anchor)

    # Nothing during the week, nothing at the close before this installation's offset.
    clock.now = second.end - timedelta(seconds=1)
    await rig.submitter.run_pending()
    assert len(sim.submits) == 1
    clock.now = second.end + offset - timedelta(seconds=1)
    status = await rig.submitter.run_pending()
    assert len(sim.submits) == 1
    assert status.pending_periods == 1  # queued at the close, sent at the offset
    assert status.next_attempt == second.end + offset

    clock.now = second.end + offset
    status = await rig.submitter.run_pending()
    rows = sim.rows_for(installation_id)
    assert len(rows) == 2
    assert status.pending_periods == 0
    third_close = second.end + timedelta(days=7)
    assert status.next_attempt == third_close + offset

    # Running again in the same week sends nothing more.
    clock.advance(days=3)
    await rig.submitter.run_pending()
    assert len(sim.submits) == 2
    starts = sorted(row["period"]["start"][:10] for row in rows)
    assert starts == [first_period(anchor).first_day.isoformat(), anchor.isoformat()]


async def test_send_offset_drawn_once_and_kept(make_rig: RigFactory, tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    first = await make_rig(path=path, rng=random.Random(1))
    await first.opt_in()
    await first.submitter.run_pending()
    offset = await first.offset()
    await first.submitter.stop()
    await first.service.stop()
    again = await make_rig(path=path, rng=random.Random(99))
    await again.submitter.run_pending()
    assert await again.offset() == offset
    other = await make_rig(rng=random.Random(99))
    await other.opt_in()
    await other.submitter.run_pending()
    assert await other.offset() != offset


async def test_background_loop_sends_due_at_start_and_each_week(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.start()
    await rig.submitter.start()  # idempotent
    await wait_for(lambda: len(sim.rows_for(installation_id)) == 1)
    offset = await rig.offset()
    clock.now = period_containing(START.date(), START.date()).end + offset
    await wait_for(lambda: len(sim.rows_for(installation_id)) == 2)
    await rig.submitter.stop()
    assert len(sim.submits) == 2


async def test_loop_wakes_on_opt_in(rig: Rig, sim: SimServer) -> None:
    rig.submitter._poll_interval = 30.0  # only the listener can wake it in time
    await rig.submitter.start()
    await asyncio.sleep(0.05)
    installation_id = await rig.opt_in()
    await wait_for(lambda: len(sim.rows_for(installation_id)) == 1)


async def test_start_up_sends_what_fell_due_while_stopped(
    make_rig: RigFactory, sim: SimServer, clock: Clock, tmp_path: Path
) -> None:
    path = tmp_path / "restart.db"
    rig = await make_rig(path=path)
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    await rig.submitter.stop()
    await rig.service.stop()
    clock.advance(days=22)  # three periods closed while the host was off
    again = await make_rig(path=path)
    await again.submitter.start()
    await wait_for(lambda: len(sim.rows_for(installation_id)) == 4)
    assert len(sim.submits) == 4


# --- outages and server answers ------------------------------------------------------------


async def test_server_down_three_weeks_every_period_arrives_once(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    offset = await rig.offset()
    await sim.stop()
    close = period_containing(START.date(), START.date()).end
    for week in range(3):
        clock.now = close + timedelta(days=7 * week) + offset
        status = await rig.submitter.run_pending()
        assert status.pending_periods == week + 1
        assert "cannot connect" in (status.last_error or "")
    # Two whole weeks after the first failure, the status says so.
    status = await rig.submitter.status()
    assert status.state is SharingState.FAILING
    assert status.failing_periods == 2
    assert status.last_success == START

    await sim.start()
    clock.advance(hours=7)  # past any backoff (capped at six hours)
    status = await rig.submitter.run_pending()
    assert status.pending_periods == 0
    rows = sim.rows_for(installation_id)
    assert len(rows) == 4
    assert len({row["submission_id"] for row in rows}) == 4
    assert [code for _, _, code in sim.submits] == [201, 201, 201, 201]
    assert status.state is SharingState.ON
    assert status.failing_periods == 0
    # Oldest first.
    starts = [json.loads(body)["period"]["start"] for body in sim.bodies]
    assert starts == sorted(starts)


async def test_retry_after_on_429_is_respected(rig: Rig, sim: SimServer, clock: Clock) -> None:
    sim.script.append(Scripted(status=429, headers={"Retry-After": "120"}))
    installation_id = await rig.opt_in()
    status = await rig.submitter.run_pending()
    assert status.pending_periods == 1
    assert status.next_attempt == START + timedelta(seconds=120)
    assert "HTTP 429" in (status.last_error or "")
    clock.advance(seconds=119)
    await rig.submitter.run_pending()
    await rig.submitter.submit_now()  # even "send now" waits for the server's Retry-After
    assert len(sim.submits) == 1
    clock.advance(seconds=1)
    status = await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1
    assert status.pending_periods == 0


async def test_retry_after_on_503_as_http_date(rig: Rig, sim: SimServer, clock: Clock) -> None:
    sim.script.append(
        Scripted(status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    installation_id = await rig.opt_in()
    status = await rig.submitter.run_pending()
    assert status.pending_periods == 1  # a date in the past: retry at once
    await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1


async def test_5xx_retried_with_backoff(rig: Rig, sim: SimServer, clock: Clock) -> None:
    sim.script += [Scripted(status=500), Scripted(status=502)]
    installation_id = await rig.opt_in()
    first = await rig.submitter.run_pending()
    assert first.next_attempt is not None
    assert START <= first.next_attempt <= START + timedelta(seconds=61)
    clock.now = first.next_attempt
    second = await rig.submitter.run_pending()
    assert second.next_attempt is not None
    assert clock.now <= second.next_attempt <= clock.now + timedelta(seconds=121)
    clock.now = second.next_attempt
    await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1
    assert (await rig.outbox())[0].attempts == 3


async def test_422_is_not_retried(rig: Rig, sim: SimServer, clock: Clock) -> None:
    sim.script.append(Scripted(status=422))
    await rig.opt_in()
    status = await rig.submitter.run_pending()
    assert status.failed_periods == 1
    assert status.pending_periods == 0
    assert status.state is SharingState.FAILING
    assert "HTTP 422" in (status.last_error or "")
    entry = (await rig.outbox())[0]
    assert entry.status == "failed"
    assert "422" in (entry.last_error or "")
    clock.advance(days=1)
    await rig.submitter.run_pending()
    await rig.submitter.submit_now()
    assert len(sim.submits) == 1
    # The next week is still delivered.
    clock.advance(days=8)
    status = await rig.submitter.run_pending()
    assert len(sim.submits) == 2
    assert status.failed_periods == 1  # still listed, but delivery works again
    assert status.last_error is None
    assert status.state is SharingState.ON


async def test_other_4xx_and_redirects_are_permanent(rig: Rig, sim: SimServer) -> None:
    sim.script.append(Scripted(status=308, headers={"Location": "https://example.invalid/"}))
    await rig.opt_in()
    status = await rig.submitter.run_pending()
    assert status.failed_periods == 1
    assert "HTTP 308" in (status.last_error or "")


async def test_timeouts_are_retried(rig: Rig, sim: SimServer, clock: Clock) -> None:
    sim.script.append(Scripted(delay=1.0))
    installation_id = await rig.opt_in()
    status = await rig.submitter.run_pending()
    assert status.pending_periods == 1
    assert "no answer" in (status.last_error or "")
    assert sim.rows_for(installation_id) == []
    clock.advance(hours=1)
    status = await rig.submitter.run_pending()
    await asyncio.sleep(0.6)  # let the stalled first request finish on the server
    assert status.pending_periods == 0
    assert len(sim.rows_for(installation_id)) == 1


async def test_lost_answer_is_not_a_duplicate(rig: Rig, sim: SimServer, clock: Clock) -> None:
    # The server stores the report but the answer never arrives in time: the retry is
    # recognised by its submission_id and nothing is counted twice.
    sim.script.append(Scripted(delay=0.8, store_then_delay=True))
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1
    clock.advance(hours=1)
    status = await rig.submitter.run_pending()
    assert status.pending_periods == 0
    await asyncio.sleep(0.4)
    assert len(sim.rows_for(installation_id)) == 1
    assert sorted(code for _, _, code in sim.submits) == [200, 201]


# --- transparency --------------------------------------------------------------------------


async def test_preview_sent_and_logged_are_identical(
    rig: Rig, sim: SimServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.opt_in()
    await rig.submitter.run_pending()
    for _ in range(3):
        rig.service.record_event("job_completed", {"printer_type": "bambu_lab"})
    rig.service.record_event("error_occurred", {"error_type": "TimeoutError"})
    await rig.service.set_printer_fleet({"bambu_lab": 2})
    offset = await rig.offset()
    close = period_containing(START.date(), START.date()).end
    clock.now = close
    await rig.submitter.run_pending()  # queued, not yet sent (offset)
    preview = await rig.service.preview()
    assert json.loads(preview)["usage_stats"]["jobs_completed"] == 3
    clock.now = close + offset
    with caplog.at_level(logging.INFO, logger=LOGGER):
        await rig.submitter.run_pending()
    assert sim.bodies[-1] == preview.encode("utf-8")
    logged = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO]
    sent_logs = [r for r in logged if r.getMessage().startswith("Sending usage statistics")]
    assert len(sent_logs) == 1
    assert sent_logs[0].args is not None
    assert sent_logs[0].args[-1] == preview  # type: ignore[index]
    assert sent_logs[0].getMessage().endswith(": " + preview)


# --- opt-out and deletion ------------------------------------------------------------------


async def test_opt_out_with_deletion_leaves_no_row(rig: Rig, sim: SimServer) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    assert len(sim.rows_for(installation_id)) == 1
    await rig.submitter.opt_out(delete_remote=True)
    assert sim.rows_for(installation_id) == []
    assert ("DELETE", f"/installation/{installation_id}", 204) in sim.requests
    settings = await rig.service.get_settings()
    assert settings.installation_id is None
    assert await rig.service.deletion_secret() is None
    assert not settings.opted_in
    status = await rig.submitter.status()
    assert status.state is SharingState.OFF
    assert status.next_attempt is None
    assert await rig.outbox() == []


async def test_opt_out_without_deletion_keeps_identity(rig: Rig, sim: SimServer) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    await rig.submitter.opt_out()
    assert len(sim.rows_for(installation_id)) == 1
    assert str((await rig.service.get_settings()).installation_id) == installation_id
    assert not [r for r in sim.requests if r[0] == "DELETE"]


async def test_opt_out_drops_pending_and_stops_sending(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    await sim.stop()
    await rig.opt_in()
    status = await rig.submitter.run_pending()
    assert status.pending_periods == 1
    await sim.start()
    await rig.submitter.opt_out()
    clock.advance(days=30)
    status = await rig.submitter.run_pending()
    await rig.submitter.submit_now()
    assert sim.requests == []
    assert status.pending_periods == 0


async def test_opt_out_cancels_delivery_in_flight(rig: Rig, sim: SimServer) -> None:
    gate = asyncio.Event()
    sim.script.append(Scripted(gate=gate))
    rig.submitter._timeout = 10.0
    await rig.opt_in()
    sending = asyncio.create_task(rig.submitter.submit_now())
    await asyncio.wait_for(sim.received.wait(), 5)
    started = time.perf_counter()
    await rig.submitter.opt_out()
    assert time.perf_counter() - started < 1.0
    status = await asyncio.wait_for(sending, 5)  # the caller is not cancelled
    assert status.state is SharingState.OFF
    assert await rig.outbox() == []
    gate.set()


async def test_deletion_retried_until_server_is_back(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    await sim.stop()
    await rig.submitter.opt_out(delete_remote=True)
    # Not deleted yet: the identity is kept so that the request can be repeated.
    assert str((await rig.service.get_settings()).installation_id) == installation_id
    status = await rig.submitter.status()
    assert "deletion pending" in (status.last_error or "")
    await sim.start()
    await rig.submitter.run_pending()  # still inside the backoff: nothing sent
    assert sim.rows_for(installation_id) != []
    clock.advance(hours=7)
    await rig.submitter.run_pending()
    assert sim.rows_for(installation_id) == []
    assert (await rig.service.get_settings()).installation_id is None


async def test_deletion_rate_limited_then_done(rig: Rig, sim: SimServer, clock: Clock) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    sim.script.append(Scripted(status=429, headers={"Retry-After": "30"}))
    await rig.submitter.opt_out(delete_remote=True)
    assert sim.rows_for(installation_id) != []
    clock.advance(seconds=31)
    await rig.submitter.run_pending()
    assert sim.rows_for(installation_id) == []


async def test_deletion_refused_keeps_identity(rig: Rig, sim: SimServer) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    sim.hashes[installation_id] = "0" * 64  # the server knows another secret
    await rig.submitter.opt_out(delete_remote=True)
    status = await rig.submitter.status()
    assert "deletion refused" in (status.last_error or "")
    assert sim.rows_for(installation_id) != []
    assert (await rig.service.get_settings()).installation_id is not None


async def test_deletion_of_unknown_installation_forgets_identity(rig: Rig, sim: SimServer) -> None:
    await sim.stop()
    await rig.opt_in()
    await rig.submitter.run_pending()  # never delivered
    await sim.start()
    await rig.submitter.opt_out(delete_remote=True)  # 404: nothing stored
    assert (await rig.service.get_settings()).installation_id is None


async def test_opting_back_in_drops_pending_deletion(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    await sim.stop()
    await rig.submitter.opt_out(delete_remote=True)
    await sim.start()
    await rig.opt_in()
    clock.advance(hours=7)
    await rig.submitter.run_pending()
    assert not [r for r in sim.requests if r[0] == "DELETE"]
    assert len(sim.rows_for(installation_id)) >= 1


async def test_deletion_without_secret_just_forgets(rig: Rig, sim: SimServer) -> None:
    await rig.opt_in()
    await rig.service.store.set_setting("deletion_secret", None)
    await rig.submitter.opt_out(delete_remote=True)
    assert sim.requests == []
    assert (await rig.service.get_settings()).installation_id is None


# --- the environment's veto and endpoints --------------------------------------------------


@pytest.mark.parametrize("variable", ["DO_NOT_TRACK", "PRINTERNIZER_USAGE_DISABLED"])
async def test_environment_veto_stops_all_network_activity(
    make_rig: RigFactory, sim: SimServer, variable: str
) -> None:
    rig = await make_rig(environ={variable: "1"})
    await rig.opt_in()
    await rig.submitter.start()
    status = await rig.submitter.submit_now()
    await asyncio.sleep(0.1)
    assert status.state is SharingState.BLOCKED
    assert status.next_attempt is None
    await rig.submitter.check_endpoint("https://usage.example.org")  # URL checked, no probe
    await rig.submitter.opt_out(delete_remote=True)
    assert sim.requests == []
    assert (await rig.service.get_settings()).installation_id is not None


async def test_invalid_configured_endpoint_sends_nothing(rig: Rig, sim: SimServer) -> None:
    await rig.opt_in()
    await rig.service.set_endpoint("http://usage.example.org")
    status = await rig.submitter.run_pending()
    assert sim.requests == []
    assert "invalid endpoint" in (status.last_error or "")
    assert status.next_attempt is None


async def test_invalid_endpoint_blocks_deletion(rig: Rig, sim: SimServer) -> None:
    await rig.opt_in()
    await rig.service.set_endpoint("ftp://usage.example.org")
    await rig.submitter.opt_out(delete_remote=True)
    status = await rig.submitter.status()
    assert "deletion not possible" in (status.last_error or "")
    assert sim.requests == []


async def test_check_endpoint(rig: Rig, sim: SimServer) -> None:
    await rig.submitter.check_endpoint(sim.url)
    await rig.submitter.check_endpoint(sim.url + "/")
    with pytest.raises(EndpointError) as err:
        await rig.submitter.check_endpoint(f"http://127.0.0.1:{free_port()}")
    assert err.value.reason == "cannot_connect"
    with pytest.raises(EndpointError) as err:
        await rig.submitter.check_endpoint(sim.url + "/elsewhere")
    assert err.value.reason == "bad_response"
    with pytest.raises(EndpointError) as err:
        await rig.submitter.check_endpoint("http://usage.example.org")
    assert err.value.reason == "https_required"
    for bad in [
        "",
        "usage.example.org",
        "ftp://x.org",
        "https://",
        "https://u:p@x.org",
        "https://x.org/?a=1",
        "http://[::1",
        "https://a..b",
        "https://exa mple.com",
        "https://%zz",
        "https://-x.org",
    ]:
        with pytest.raises(EndpointError) as err:
            await rig.submitter.check_endpoint(bad)
        assert err.value.reason == "invalid_url", bad


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://usage.example.org/", "https://usage.example.org"),
        ("https://usage.example.org/base/", "https://usage.example.org/base"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.5:1", "http://127.0.0.5:1"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://stats.localhost", "http://stats.localhost"),
        ("https://stats_server.lan", "https://stats_server.lan"),  # a Docker service name
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        (DEFAULT_ENDPOINT, DEFAULT_ENDPOINT),
    ],
)
def test_normalise_endpoint(url: str, expected: str) -> None:
    assert normalise_endpoint(url) == expected


@pytest.mark.parametrize(
    "url", ["http://192.168.1.10:8080", "http://example.org", "http://10.0.0.1"]
)
def test_plain_http_needs_loopback(url: str) -> None:
    with pytest.raises(EndpointError) as err:
        normalise_endpoint(url)
    assert err.value.reason == "https_required"


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("99999999") == MAX_RETRY_AFTER
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00", now) == 60.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0


def test_backoff_has_full_jitter_and_a_cap() -> None:
    rng = random.Random(3)
    for attempts in range(1, 12):
        ceiling = min(600.0, 10.0 * 2 ** (attempts - 1))
        draws = [backoff_delay(attempts, base=10.0, cap=600.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert min(draws) < ceiling * 0.2  # full jitter reaches down towards zero
        assert max(draws) > ceiling * 0.8
    assert backoff_delay(10_000, base=10.0, cap=600.0, rng=rng) <= 600.0


# --- the host never waits ------------------------------------------------------------------


async def test_slow_server_does_not_delay_record_event(rig: Rig, sim: SimServer) -> None:
    gate = asyncio.Event()
    sim.script.append(Scripted(gate=gate))
    rig.submitter._timeout = 10.0
    await rig.opt_in()
    await rig.submitter.start()
    await asyncio.wait_for(sim.received.wait(), 5)  # a submission is now hanging on the server
    took = []
    for i in range(2000):
        started = time.perf_counter()
        assert rig.service.record_event("job_completed", {"printer_type": "octoprint"})
        took.append(time.perf_counter() - started)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the loop run the writer and the hanging request
    # A call that waited on the server would hang until the gate opens (never, here); the
    # bounds only leave room for a loaded CI machine or coverage tracing.
    assert max(took) < 0.25
    assert sorted(took)[1000] < 0.001
    # The event loop itself stays responsive while the request hangs.
    started = time.perf_counter()
    await asyncio.sleep(0.01)
    assert time.perf_counter() - started < 0.2
    await rig.service.flush()
    assert rig.service.recorder.counters.written >= 2000
    gate.set()
    await wait_for(lambda: sim.rows != {})


# --- sessions ------------------------------------------------------------------------------


async def test_injected_session_is_used_and_left_open(make_rig: RigFactory, sim: SimServer) -> None:
    async with aiohttp.ClientSession() as session:
        rig = await make_rig(session=session)
        installation_id = await rig.opt_in()
        await rig.submitter.run_pending()
        await rig.submitter.stop()
        assert not session.closed
        assert len(sim.rows_for(installation_id)) == 1


async def test_own_session_is_closed_on_stop(rig: Rig, sim: SimServer) -> None:
    await rig.opt_in()
    await rig.submitter.run_pending()
    session = rig.submitter._own_session
    assert session is not None
    await rig.submitter.stop()
    assert session.closed
    # Usable again after a stop: a fresh session is made.
    await rig.submitter.check_endpoint(sim.url)


async def test_status_before_opt_in_is_off(rig: Rig) -> None:
    status = await rig.submitter.status()
    assert status.state is SharingState.OFF
    assert status.endpoint == rig.submitter._default_endpoint
    assert status.pending_periods == 0
    assert status.last_success is None


async def test_loop_survives_a_failing_round(rig: Rig, sim: SimServer, clock: Clock) -> None:
    installation_id = await rig.opt_in()
    await rig.service.store.set_setting("submission_state", "garbage")  # ignored, rebuilt
    await rig.service.store.set_setting(OFFSET_KEY, -5)  # out of range: drawn again
    await rig.submitter.start()
    await wait_for(lambda: len(sim.rows_for(installation_id)) == 1)
    assert 0 <= await rig.service.store.get_setting(OFFSET_KEY) < 86400


async def test_loop_logs_and_survives_an_exception(
    rig: Rig, sim: SimServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    original = rig.submitter._run_round

    async def flaky(*, force: bool) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk on fire")
        await original(force=force)

    monkeypatch.setattr(rig.submitter, "_run_round", flaky)
    installation_id = await rig.opt_in()
    rig.submitter._poll_interval = 0.02
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await rig.submitter.start()
        await wait_for(lambda: len(sim.rows_for(installation_id)) == 1)
    assert "submission round failed" in caplog.text


async def test_deletion_timeout_is_retried(rig: Rig, sim: SimServer, clock: Clock) -> None:
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    sim.script.append(Scripted(delay=1.0))
    await rig.submitter.opt_out(delete_remote=True)
    assert "deletion pending" in ((await rig.submitter.status()).last_error or "")
    await asyncio.sleep(0.6)
    clock.advance(hours=7)
    await rig.submitter.run_pending()
    assert sim.rows_for(installation_id) == []
    assert (await rig.service.get_settings()).installation_id is None


async def test_direct_service_opt_out_stops_the_next_send(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    await sim.stop()
    await rig.opt_in()
    await rig.submitter.run_pending()
    await sim.start()
    await rig.service.opt_out()  # a front that bypasses the submitter
    clock.advance(days=1)
    await rig.submitter.submit_now()
    assert sim.requests == []


# --- sharing states (the Submitter docstring defines them) ---------------------------------


async def test_connection_refused_is_failing_after_one_attempt(
    make_rig: RigFactory, sim: SimServer, clock: Clock
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    rig = await make_rig(default_endpoint=closed, app_version=UNKNOWN_VERSION)
    await rig.opt_in()
    assert (await rig.submitter.status()).state is SharingState.ON  # nothing tried yet
    report, status = await rig.submitter.send_now()
    assert report.result == "failed"
    assert status.state is SharingState.FAILING
    assert "cannot connect" in (status.last_error or "")
    assert (status.failing_periods, status.pending_periods) == (0, 1)
    assert status.endpoint == closed
    # The same installation pointed at a working server: the next success is "on" again.
    await rig.service.set_endpoint(sim.url)
    report, status = await rig.submitter.send_now()
    assert (report.result, report.sent) == ("sent", 1)
    assert status.state is SharingState.ON
    assert status.last_error is None
    assert status.last_success == clock.now
    # A host that does not tell its version reports "unknown", and the report is valid.
    assert sim.rows[next(iter(sim.rows))]["installation"]["app_version"] == UNKNOWN_VERSION
    report, status = await rig.submitter.send_now()
    assert report.result == "nothing_due"
    assert len(sim.submits) == 1


async def test_a_refusal_is_failing_at_once(rig: Rig, sim: SimServer) -> None:
    sim.script.append(Scripted(status=422))
    await rig.opt_in()
    report, status = await rig.submitter.send_now()
    assert report.result == "failed"
    assert status.state is SharingState.FAILING
    assert "HTTP 422" in (status.last_error or "")
    assert status.failed_periods == 1


async def test_a_server_asking_to_wait_is_failing_then_waiting(rig: Rig, sim: SimServer) -> None:
    sim.script.append(Scripted(status=503, headers={"Retry-After": "600"}))
    await rig.opt_in()
    report, status = await rig.submitter.send_now()
    assert (report.result, status.state) == ("failed", SharingState.FAILING)
    report, status = await rig.submitter.send_now()
    assert (report.result, status.state) == ("waiting", SharingState.FAILING)
    assert len(sim.submits) == 1


async def test_a_report_that_cannot_be_built_is_failing_not_silent(
    make_rig: RigFactory, sim: SimServer
) -> None:
    # A version no report may carry: the payload does not validate, and the status says so.
    rig = await make_rig(app_version="banana")
    await rig.opt_in()
    report, status = await rig.submitter.send_now()
    assert report.result == "failed"
    assert status.state is SharingState.FAILING
    assert "could not be prepared" in (status.last_error or "")
    assert sim.submits == []


async def test_opting_out_ends_the_failure_and_deletion_errors_show_only_while_off(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(default_endpoint=f"http://127.0.0.1:{free_port()}")
    await rig.opt_in()
    await rig.submitter.send_now()
    assert (await rig.submitter.status()).state is SharingState.FAILING
    await rig.submitter.opt_out(delete_remote=True)
    status = await rig.submitter.status()
    assert status.state is SharingState.OFF
    assert "deletion pending" in (status.last_error or "")
    await rig.service.opt_in()
    status = await rig.submitter.status()
    # Back on: no stale failure, and the deletion note is not a delivery error.
    assert (status.state, status.last_error) == (SharingState.ON, None)


async def test_status_reads_write_nothing(rig: Rig, sim: SimServer) -> None:
    await rig.opt_in()
    await rig.submitter.run_pending()
    await rig.service.store.set_setting(OFFSET_KEY, None)
    before = await rig.service.store.get_settings()
    first = await rig.submitter.status()
    assert await rig.service.store.get_settings() == before
    assert (await rig.submitter.status()).next_attempt == first.next_attempt


# --- deleting everything while the server cannot be reached -------------------------------


async def test_delete_all_keeps_an_unconfirmed_deletion_until_the_server_agrees(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    old_id = await rig.opt_in()
    rig.service.record_event("app_start")
    await rig.submitter.run_pending()
    assert sim.rows_for(old_id) != []
    await sim.stop()
    await rig.submitter.opt_out(delete_remote=True)
    await rig.service.delete_all()
    # Everything local is gone, the identity included; only the request is kept, apart.
    settings = await rig.service.get_settings()
    assert settings.installation_id is None and not settings.opted_in
    tables = await rig.service.store.dump()
    assert tables["usage_events"] == [] and tables["usage_outbox"] == []
    assert {row["key"] for row in tables["usage_settings"]} == {
        "pending_deletions",
        "submission_state",
    }
    status = await rig.submitter.status()
    assert "deletion pending" in (status.last_error or "")
    assert old_id not in (status.last_error or ""), "errors name the route, not the id"
    # A new opt-in is a new installation; the old one's deletion still goes through.
    new_id = await rig.opt_in()
    assert new_id != old_id
    await sim.start()
    clock.advance(hours=7)
    await rig.submitter.run_pending()
    assert sim.rows_for(old_id) == []
    assert [r for r in sim.requests if r[0] == "DELETE"] != []
    assert await rig.service.pending_deletions() == []
    assert str((await rig.service.get_settings()).installation_id) == new_id
    assert sim.rows_for(new_id) != []


async def test_a_pending_deletion_from_before_is_still_sent(
    rig: Rig, sim: SimServer, clock: Clock
) -> None:
    """Versions before 0.4 noted a pending deletion as a flag beside the current identity."""
    installation_id = await rig.opt_in()
    await rig.submitter.run_pending()
    await rig.service.opt_out()
    await rig.service.store.set_setting("submission_state", {"deletion_pending": True})
    await rig.submitter.run_pending()
    assert sim.rows_for(installation_id) == []
    assert (await rig.service.get_settings()).installation_id is None


async def test_delete_all_leaves_nothing_readable_in_the_files(
    rig: Rig, sim: SimServer, tmp_path: Path
) -> None:
    installation_id = await rig.opt_in()
    secret = await rig.service.deletion_secret()
    assert secret
    for _ in range(50):
        rig.service.record_event("error_occurred", {"error_type": "PrinterTimeoutError"})
    await rig.submitter.run_pending()
    await rig.service.delete_all()
    for name, data in _database_files(tmp_path).items():
        for secret_bytes in (installation_id.encode(), secret.encode(), b"PrinterTimeoutError"):
            assert secret_bytes not in data, (name, secret_bytes)


def _database_files(folder: Path) -> dict[str, bytes]:
    """The database file of the first rig and its -wal and -shm files, as they are on disk."""
    return {path.name: path.read_bytes() for path in folder.glob("usage0.db*")}
