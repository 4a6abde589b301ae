"""`make run`'s demo stack: both servers answer at the banner, ports, restarts, its output."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from printernizer_usage_service.demo_stack import (
    DEMO_EVENTS,
    PortTakenError,
    StackOptions,
    run_stack,
)
from printernizer_usage_service.server import free_port

from .test_roundtrip import wait_for

pytest.importorskip("aggregation.app")

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/usage-stats"


@contextlib.asynccontextmanager
async def stack(options: StackOptions) -> AsyncIterator[None]:
    """Run the stack until the block ends; enter once it says ready (or fail if it ends)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_stack(options, stop, ready))
    ready_task = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([task, ready_task], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
            raise AssertionError("the demo stack ended before it was ready")
        yield
    finally:
        ready_task.cancel()
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def test_demo_stack_runs_both_servers(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    options = StackOptions(
        data_dir=tmp_path, port=free_port(), server_port=free_port(), demo_data=False
    )
    async with stack(options):
        # At the banner both answer at once: no retry, no connection refused.
        base = f"http://127.0.0.1:{options.port}{API}"
        async with http.get(f"http://127.0.0.1:{options.server_port}/health") as response:
            assert response.status == 200
        async with http.get(f"{base}/local") as response:
            local = await response.json()
        assert local["total_events"] > 50  # seeded history plus the demo day
        assert local["settings"]["endpoint"] == f"http://127.0.0.1:{options.server_port}"
        async with http.post(f"{base}/opt-in", json={}):
            pass

        async def delivered() -> bool:
            async with http.get(f"{base}/status") as response:
                return (await response.json())["last_success"] is not None

        await wait_for(delivered)


async def test_a_restart_records_the_demo_day_once(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    totals = []
    for _ in range(2):
        options = StackOptions(
            data_dir=tmp_path,
            port=free_port(),
            server_port=free_port(),
            demo_data=False,
            with_server=False,
        )
        async with stack(options):
            async with http.get(f"http://127.0.0.1:{options.port}{API}/local") as response:
                totals.append((await response.json())["total_events"])
    assert totals[0] > len(DEMO_EVENTS)
    assert totals[1] == totals[0]


@pytest.mark.parametrize(
    ("taken", "variable"), [("server_port", "AGG_PORT"), ("port", "SERVICE_PORT")]
)
async def test_a_taken_port_is_named_with_the_way_to_choose_another(
    tmp_path: Path, taken: str, variable: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        ports = {"port": free_port(), "server_port": free_port(), taken: port}
        options = StackOptions(data_dir=tmp_path, demo_data=False, **ports)
        with pytest.raises(PortTakenError) as raised:
            await run_stack(options, asyncio.Event())
    message = raised.value.strerror
    assert f"127.0.0.1:{port}" in message
    assert f"make run {variable}=<port>" in message
    # Nothing started: the other port is free again, and no data folder was made.
    other = ports["server_port" if taken == "port" else "port"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", other))
    assert not (tmp_path / "service").exists()


async def test_the_console_output_has_every_line_once(tmp_path: Path) -> None:
    port, server_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "printernizer_usage_service.demo_stack",
        "--data-dir",
        str(tmp_path),
        "--port",
        str(port),
        "--server-port",
        str(server_port),
        "--no-demo-data",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        # Read until the banner's last line; a stack that dies ends the output instead.
        while not lines or lines[-1] != "Press Ctrl-C to stop.":
            raw = await proc.stdout.readline()
            if not raw:
                raise AssertionError("the demo stack ended:\n" + "\n".join(lines))
            lines.append(raw.decode().rstrip())
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest, _ = await proc.communicate()
    assert proc.returncode == 0, rest.decode()
    running = [line for line in lines if "Running on" in line]
    assert len(running) == 2, lines
    assert any(f":{port} " in line for line in running)
    assert any(f":{server_port} " in line for line in running)
    # The banner comes after both servers said they listen.
    assert lines.index(running[-1]) < lines.index(
        "Printernizer usage statistics: demo stack is running"
    )
