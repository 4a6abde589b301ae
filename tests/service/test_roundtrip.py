"""The full round trip on one machine: this service sends to a real aggregation server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from printernizer_usage_service.config import ServiceConfig
from printernizer_usage_service.server import free_port

from .conftest import ServiceFactory, running, served

aggregation_app = pytest.importorskip("aggregation.app")
aggregation_settings = pytest.importorskip("aggregation.settings")


@contextlib.asynccontextmanager
async def aggregation_server(
    tmp_path: Path, connect_host: str = "127.0.0.1"
) -> AsyncIterator[tuple[str, Any]]:
    port = free_port()
    settings = aggregation_settings.Settings.from_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'aggregation.db'}",
            "API_KEY": "test-admin-key-123",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "REPORTS_DIR": str(tmp_path / "reports"),
            "SESSION_COOKIE_SECURE": "false",
        }
    )
    app = aggregation_app.create_app(settings)
    async with served(app, "127.0.0.1", port, connect_host) as url:
        yield url, app


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


async def test_default_settings_deliver_and_delete_remotely_by_host_name(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # What a user has: no version given, the server named by a host name, not an IP literal.
    async with aggregation_server(tmp_path, connect_host="localhost") as (server_url, agg):
        assert server_url.startswith("http://localhost:")
        config = ServiceConfig().with_overrides(
            port=free_port(), data_dir=tmp_path / "service", endpoint=server_url
        )
        assert config.app_version == "unknown"
        repo = agg.config["REPOSITORY"]
        async with running(config, connect_host="localhost") as svc:
            for round_ in ("opt-out", "delete-all"):
                async with http.post(svc.api("/events"), json={"event_type": "app_start"}):
                    pass
                async with http.post(svc.api("/opt-in"), json={}) as response:
                    assert response.status == 200
                    installation_id = (await response.json())["installation_id"]

                async def delivered(installation_id: str = installation_id) -> bool:
                    if not (await repo.deletion_key_hash(installation_id))[0]:
                        return False
                    async with http.get(svc.api("/status")) as response:
                        status = await response.json()
                    return status["last_success"] is not None and status["last_error"] is None

                await wait_for(delivered)

                if round_ == "opt-out":
                    request = http.post(svc.api("/opt-out"), json={"delete_remote": True})
                else:
                    request = http.delete(svc.api("/delete-all?delete_remote=true"))
                async with request as response:
                    body = await response.json()
                assert response.status == 200, body
                assert body["remote_deleted"] is True, body
                assert not (await repo.deletion_key_hash(installation_id))[0]


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
