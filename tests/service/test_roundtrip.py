"""The full round trip on one machine: this service sends to a real aggregation server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from printernizer_usage_service.demo_stack import StackOptions, run_stack
from printernizer_usage_service.server import free_port

from .conftest import ServiceFactory, aggregation_server


async def wait_for(predicate) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + 15.0
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def test_opt_in_sends_and_opt_out_deletes_remotely(
    start_service: ServiceFactory, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with aggregation_server(tmp_path) as (server_url, server_app):
        svc = await start_service(endpoint=server_url, submit=True)
        async with http.post(svc.api("/events"), json={"event_type": "app_start"}):
            pass
        async with http.post(svc.api("/opt-in"), json={}) as response:
            installation_id = (await response.json())["installation_id"]

        async def delivered() -> bool:
            async with http.get(svc.api("/status")) as response:
                return (await response.json())["last_success"] is not None

        await wait_for(delivered)
        repo = server_app.config["REPOSITORY"]
        known, stored_hash = await repo.deletion_key_hash(installation_id)
        assert known and stored_hash

        async with http.post(svc.api("/submit-now")) as response:
            assert response.status == 200
            assert (await response.json())["state"] == "on"

        async with http.post(svc.api("/opt-out"), json={"delete_remote": True}) as response:
            body = await response.json()
        assert body["remote_deleted"] is True, body
        assert body["settings"]["installation_id"] is None
        known, _ = await repo.deletion_key_hash(installation_id)
        assert not known


async def test_opt_out_with_unreachable_server_reports_pending(
    start_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    svc = await start_service(endpoint=f"http://127.0.0.1:{free_port()}")
    async with http.post(svc.api("/opt-in"), json={}) as response:
        assert response.status == 200
    async with http.post(svc.api("/opt-out"), json={"delete_remote": True}) as response:
        body = await response.json()
    assert response.status == 200
    assert body["settings"]["opted_in"] is False
    assert body["remote_deleted"] is False
    assert "deletion" in body["remote_error"]


async def test_demo_stack_runs_both_servers(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    options = StackOptions(
        data_dir=tmp_path, port=free_port(), server_port=free_port(), demo_data=False
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_stack(options, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), timeout=30)
        base = f"http://127.0.0.1:{options.port}/api/v1/usage-stats"
        async with http.get(f"{base}/local") as response:
            local = await response.json()
        assert local["total_events"] > 50  # seeded history plus the demo day
        assert local["settings"]["endpoint"] == f"http://127.0.0.1:{options.server_port}"
        async with http.get(f"http://127.0.0.1:{options.server_port}/health") as response:
            assert response.status == 200
        async with http.post(f"{base}/opt-in", json={}):
            pass

        async def delivered() -> bool:
            async with http.get(f"{base}/status") as response:
                return (await response.json())["last_success"] is not None

        await wait_for(delivered)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
