"""The first hour of a new user: default settings (no version), a host-name endpoint, every route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from printernizer_usage_core.models import UNKNOWN_VERSION, AggregatedStats

from printernizer_usage_service.server import free_port

from .conftest import RunningService, ServiceFactory
from .test_roundtrip import aggregation_server

IDENTITY_KEYS = {"installation_id", "candidate_installation_id", "deletion_secret"}


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    """One request; any 5xx fails the test at once."""
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        assert response.status < 500, (method, url, response.status, text)
        is_json = response.content_type == "application/json"
        return response.status, json.loads(text) if is_json else text


async def until(svc: RunningService, check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a background delivery: look again whenever the service says something changed
    (event-driven; pytest's timeout is the bound)."""
    changed = asyncio.Event()
    remove = svc.runtime.service.add_listener(changed.set)
    try:
        while not await check():
            await changed.wait()
            changed.clear()
    finally:
        remove()


async def stored_identity(svc: RunningService) -> set[str]:
    return IDENTITY_KEYS & set(await svc.runtime.service.store.get_settings())


async def test_default_settings_walk_every_route_to_a_server_by_host_name(
    start_service: ServiceFactory, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with aggregation_server(tmp_path, connect_host="localhost") as (server_url, server):
        assert server_url.startswith("http://localhost:")
        # What `printernizer-usage serve --endpoint URL` gives: no version, sending on.
        svc = await start_service(defaults=True, endpoint=server_url)
        assert svc.config.app_version == UNKNOWN_VERSION and svc.config.submit
        api = svc.api

        # Before opting in: every route answers, and no read writes an identity.
        assert (await call(http, "POST", api("/events"), {"event_type": "app_start"}))[0] == 200
        assert (await call(http, "PUT", api("/fleet"), {"printers": {"prusa_core": 1}}))[0] == 200
        body = {"features": {"auto_download": True}}
        assert (await call(http, "PUT", api("/features"), body))[0] == 200
        for path in ("/local", "/settings", "/status", "/fleet", "/export"):
            assert (await call(http, "GET", api(path)))[0] == 200, path
        preview = AggregatedStats.model_validate((await call(http, "GET", api("/preview")))[1])
        assert preview.installation.app_version == UNKNOWN_VERSION
        assert (await call(http, "POST", api("/submit-now")))[0] == 409
        assert await stored_identity(svc) == set()
        _, settings = await call(http, "GET", api("/settings"))
        assert (settings["endpoint"], settings["endpoint_source"]) == (server_url, "configured")

        # Opting in sends the first report at once, to the server reached by its name.
        _, settings = await call(http, "POST", api("/opt-in"), {})
        assert settings["installation_id"] == str(preview.installation.installation_id)

        async def delivered() -> bool:
            status = (await call(http, "GET", api("/status")))[1]
            return bool(status["last_success"] or status["last_error"])

        await until(svc, delivered)
        _, status = await call(http, "GET", api("/status"))
        assert (status["state"], status["last_error"]) == ("on", None), status
        repo = server.config["REPOSITORY"]
        known, _ = await repo.deletion_key_hash(settings["installation_id"])
        assert known
        _, health = await call(http, "GET", f"{svc.url}/health")
        assert (health["status"], health["sharing"]) == ("ok", "on")
        _, sent = await call(http, "POST", api("/submit-now"))
        assert (sent["result"], sent["delivered_periods"], sent["state"]) == (
            "nothing_due",
            0,
            "on",
        )
        for path in ("/local", "/export", "/preview"):
            assert (await call(http, "GET", api(path)))[0] == 200, path

        # Opting out with remote deletion reaches the server by its name too.
        _, out = await call(http, "POST", api("/opt-out"), {"delete_remote": True})
        assert out["remote_deleted"] is True, out
        assert not (await repo.deletion_key_hash(settings["installation_id"]))[0]

        # Delete-all: settings still say where reports would go; reads write nothing.
        _, deleted = await call(http, "DELETE", api("/delete-all"))
        assert deleted["settings"]["endpoint"] == server_url
        for path in ("/preview", "/local", "/settings", "/status"):
            await call(http, "GET", api(path))
        assert await stored_identity(svc) == set()


async def test_a_failed_first_report_shows_as_failing_everywhere(
    start_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    closed = f"http://localhost:{free_port()}"
    svc = await start_service(defaults=True, endpoint=closed, environ={})
    await call(http, "POST", svc.api("/opt-in"), {})

    async def attempted() -> bool:
        return (await call(http, "GET", svc.api("/status")))[1]["last_error"] is not None

    await until(svc, attempted)
    _, status = await call(http, "GET", svc.api("/status"))
    assert status["state"] == "failing"
    assert "cannot connect" in status["last_error"]
    _, health = await call(http, "GET", f"{svc.url}/health")
    assert (health["status"], health["sharing"]) == ("failing", "failing")
    assert "cannot connect" in health["last_error"]
    _, sent = await call(http, "POST", svc.api("/submit-now"))
    assert (sent["result"], sent["state"]) == ("failed", "failing")


async def test_do_not_track_says_blocked_and_why(
    start_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    svc = await start_service(environ={"DO_NOT_TRACK": "1"}, submit=True)
    _, settings = await call(http, "POST", svc.api("/opt-in"), {})
    assert settings["opted_in"] and settings["blocked_by_environment"]
    _, status = await call(http, "GET", svc.api("/status"))
    assert (status["state"], status["blocked_by"], status["sending_enabled"]) == (
        "blocked",
        "environment",
        False,
    )
    assert status["next_attempt"] is None
