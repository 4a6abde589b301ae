"""Defects an audit reproduced over real HTTP (hypercorn on 127.0.0.1), each kept fixed here.

Stalled bodies, client-chosen method names, reports for future periods, X-Forwarded-For
rotation, far-future report periods and zero rows left behind by a deletion.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agg_payloads import last_week, legacy_payload, make_stats, payload
from conftest import ADMIN
from printernizer_usage_core.models import TimePeriod
from test_aggregation_http import Server

from aggregation.reports import PeriodError, parse_period
from aggregation.storage import open_repository
from aggregation.validation import validate

STALLED = (
    b"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{"
)


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start `python -m aggregation` on SQLite with extra environment (stopped afterwards)."""
    servers: list[Server] = []

    async def start(**extra: str) -> Server:
        server = Server(f"sqlite:///{tmp_path / 'agg.db'}", tmp_path / "server.log")
        servers.append(server)
        await server.start(**extra)
        return server

    yield start
    for server in servers:
        server.stop()


async def _read_all(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (at most `seconds`)."""
    async with asyncio.timeout(seconds):
        return await reader.read()


# --- 1: a stalled body holds no connection for ever -------------------------------------------


async def test_a_stalled_body_gets_408_and_health_keeps_answering(
    sqlite_server: Callable[..., Any],
) -> None:
    server = await sqlite_server(BODY_TIMEOUT_SECONDS="1")
    opened = []
    for _ in range(50):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(STALLED)
        await writer.drain()
        opened.append((reader, writer))
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/health") as response:
            assert response.status == 200  # while 50 stalled bodies are open
    answers = await asyncio.gather(*(_read_all(reader, 10) for reader, _ in opened))
    elapsed = time.monotonic() - started
    for answer in answers:  # each got its 408 and then the server closed the connection
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"the body did not arrive within 1 seconds" in body
    assert elapsed < 5
    for _, writer in opened:
        writer.close()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/metrics") as response:
            text = await response.text()
    assert 'reason="body_timeout"' in text
    assert "Traceback" not in server.log.read_text()


async def test_a_trickled_body_meets_one_deadline_for_the_whole_body(
    sqlite_server: Callable[..., Any],
) -> None:
    """A byte every 0.3 s never stalls a single read for long: the deadline is the body's."""
    server = await sqlite_server(BODY_TIMEOUT_SECONDS="1")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(STALLED)
    started = time.monotonic()

    async def trickle() -> None:
        for _ in range(20):
            await asyncio.sleep(0.3)
            writer.write(b" ")
            try:
                await writer.drain()
            except ConnectionError:
                return

    sender = asyncio.create_task(trickle())
    answer = await _read_all(reader, 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 3
    sender.cancel()
    writer.close()


async def test_a_prompt_body_is_unaffected_by_the_deadline(
    sqlite_server: Callable[..., Any],
) -> None:
    server = await sqlite_server(BODY_TIMEOUT_SECONDS="1")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/submit", json=payload()) as response:
            assert response.status == 201


# --- 2: method names are a fixed set in the log and in /metrics -------------------------------


async def test_unknown_methods_are_logged_and_counted_as_other(
    sqlite_server: Callable[..., Any],
) -> None:
    server = await sqlite_server(LOG_LEVEL="INFO")
    for method in (b"alices-macbook.local", b"BREW", b"get"):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(method + b" /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await _read_all(reader, 10)
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
        assert not answer.startswith(b"HTTP/1.1 5"), answer[:200]
        writer.close()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/metrics") as response:
            metrics = await response.text()
    assert 'method="OTHER"' in metrics
    assert 'method="GET"' in metrics  # its own GET /metrics... and the readiness probes
    for name in ("alices", "ALICES", "BREW", 'method="get"'):
        assert name not in metrics
    await asyncio.sleep(1)  # the request log is written in batches (at most 0.5 s apart)
    log = server.log.read_text()
    assert '"method":"OTHER"' in log
    assert "alices" not in log.lower()
    assert "BREW" not in log


# --- 3: a report for a future period is refused ----------------------------------------------


async def test_reports_for_future_periods_are_refused_with_422(
    sqlite_server: Callable[..., Any],
) -> None:
    server = await sqlite_server()
    today = datetime.now(UTC).date()
    in_a_year = TimePeriod.from_days(today + timedelta(days=358), today + timedelta(days=365))
    far = make_stats(period=in_a_year).model_dump(mode="json")
    next_week = payload(weeks_ago=-1)
    legacy = legacy_payload(weeks_ago=-1)
    # Clock skew: a period ending tomorrow (a client a few hours ahead) still counts.
    tomorrow = TimePeriod.from_days(today - timedelta(days=6), today + timedelta(days=1))
    skewed = make_stats(period=tomorrow).model_dump(mode="json")
    async with aiohttp.ClientSession() as session:
        for body in (far, next_week, legacy):
            async with session.post(f"{server.url}/submit", json=body) as response:
                assert response.status == 422
                answer = await response.json()
                assert answer["field"] == "period.end"
                assert "the period ends in the future" in answer["error"]
        async with session.post(f"{server.url}/submit", json=skewed) as response:
            assert response.status == 201
        async with session.get(f"{server.url}/stats/versions?days=7", headers=ADMIN) as response:
            versions = await response.json()
    assert "1.9.2" not in str(versions)  # the refused 1.0 report is nowhere


def test_the_future_limit_is_one_day_after_the_servers_clock() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    fits = TimePeriod.from_days(datetime(2026, 3, 4).date(), datetime(2026, 3, 11).date())
    assert validate(make_stats(period=fits).model_dump(mode="json"), now=now)
    late = TimePeriod.from_days(datetime(2026, 3, 5).date(), datetime(2026, 3, 12).date())
    with pytest.raises(Exception, match="the period ends in the future"):
        validate(make_stats(period=late).model_dump(mode="json"), now=now)


# --- 5: behind a trusted proxy, the address is the one the proxy appended ---------------------


async def test_rotating_the_leftmost_forwarded_entry_escapes_no_limit(
    sqlite_server: Callable[..., Any],
) -> None:
    server = await sqlite_server(TRUST_PROXY="true", ADDRESS_RATE_LIMIT_PER_MINUTE="3")
    statuses = []
    async with aiohttp.ClientSession() as session:
        for n in range(6):
            spoofed = {"X-Forwarded-For": f"10.9.{n}.{n}, 198.51.100.7"}
            async with session.post(
                f"{server.url}/submit", json=payload(), headers=spoofed
            ) as response:
                statuses.append(response.status)
        # Another client behind the same proxy is its own address.
        neighbour = {"X-Forwarded-For": "10.9.0.0, 198.51.100.8"}
        async with session.post(
            f"{server.url}/submit", json=payload(), headers=neighbour
        ) as response:
            assert response.status == 201
        # The admin deletion route (Quart, not the fast path) keys on the same address.
        async with session.delete(
            f"{server.url}/installation/{uuid.uuid4()}",
            headers={"X-Forwarded-For": "10.1.1.1, 198.51.100.7", **ADMIN},
        ) as response:
            assert response.status == 429
    assert statuses[:3] == [201, 201, 201]
    assert statuses[3:] == [429, 429, 429]


async def test_rotating_the_leftmost_entry_escapes_no_sign_in_throttle(
    sqlite_server: Callable[..., Any], away_from_window_edge: None
) -> None:
    server = await sqlite_server(
        TRUST_PROXY="true", ADMIN_ATTEMPTS_PER_CLIENT="3", ADMIN_ATTEMPTS_TOTAL="100"
    )
    statuses = []
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            headers = {"X-Forwarded-For": f"10.7.{n}.1, 203.0.113.9", "X-API-Key": f"guess-{n}"}
            async with session.get(f"{server.url}/stats/summary", headers=headers) as response:
                statuses.append(response.status)
    assert statuses == [401, 401, 401, 429, 429]


# --- 7: report periods at the edge of the calendar are a 400, not a 500 ----------------------


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/reports/weekly.md?period=9999-W52",
        "/dashboard/reports/weekly.json?period=0001-W01",
        "/dashboard/reports?period=9999-12",
        "/dashboard/reports?period=0001-01&format=json",
        "/dashboard/reports?period=0000-05",
    ],
)
async def test_report_periods_outside_the_calendar_are_400(
    sqlite_server: Callable[..., Any], path: str
) -> None:
    server = await sqlite_server()
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + path, headers=ADMIN) as response:
            assert response.status == 400
            answer = await response.json()
    assert "outside the range of dates a report can cover" in answer["error"]
    assert "Traceback" not in server.log.read_text()


def test_period_labels_keep_four_digit_years() -> None:
    assert parse_period("monthly", "0001-02").label == "0001-02"
    assert parse_period("weekly", "0001-W02").label == "0001-W02"
    assert parse_period("weekly", "9999-W51").label == "9999-W51"
    with pytest.raises(PeriodError, match="is not an ISO week"):
        parse_period("weekly", "2026-W60")


# --- 8: a deleted installation leaves no rollup row naming its keys (both databases) ---------


async def test_deletion_leaves_no_zero_rows_naming_its_keys(
    database_url: str, tmp_path: Path
) -> None:
    server = Server(database_url, tmp_path / "server.log")
    await server.start()
    gone, stays = uuid.uuid4(), uuid.uuid4()
    try:
        async with aiohttp.ClientSession() as session:
            for weeks_ago in (2, 1, 0):  # two latest-report swaps, then the deletion
                for iid, version, errors in (
                    (gone, f"77.7.{weeks_ago}", {"OnlyMineError": 2}),
                    (stays, "2.1.0", {"TimeoutError": 1}),
                ):
                    stats = make_stats(
                        iid, period=last_week(weeks_ago), app_version=version, errors=errors
                    )
                    async with session.post(
                        f"{server.url}/submit", json=stats.model_dump(mode="json")
                    ) as response:
                        assert response.status == 201
            async with session.delete(f"{server.url}/installation/{gone}", headers=ADMIN) as resp:
                assert resp.status == 200
    finally:
        server.stop()
    repo = await open_repository(database_url)
    try:
        async with repo._read() as tx:  # type: ignore[attr-defined]
            rows = {
                table: await tx.fetch(f"SELECT dim, key, installations, total FROM {table}")
                for table in ("latest_rollup", "weekly_rollup")
            }
    finally:
        await repo.close()
    for table, found in rows.items():
        keys = {key for _, key, _, _ in found}
        assert "OnlyMineError" not in keys, table
        assert not any(key.startswith("77.7.") for key in keys), table
        assert {"2.1.0", "TimeoutError"} <= keys, table  # the other installation's rows stay
    # Rows the other installation's own swaps zeroed may wait for the hourly purge; the
    # weekly rollup only ever falls to zero through a deletion.
    assert not [r for r in rows["weekly_rollup"] if r[2] == 0 and r[3] == 0]
