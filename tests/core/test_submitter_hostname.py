"""A report and a remote deletion reach the real aggregation server by host name (localhost)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.connector
import pytest

pytest.importorskip("aggregation.app")

from printernizer_usage_core.models import UNKNOWN_VERSION, SharingState
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.submitter import Submitter

from .submitter_helpers import wait_for
from .test_submitter_server import AggregationServer


class BrokenResolver(aiohttp.ThreadedResolver):
    """What aiodns 3.2 on pycares 5 did to every lookup: a TypeError."""

    async def resolve(self, host: str, port: int = 0, family: Any = 0) -> list[Any]:
        raise TypeError("Channel.getaddrinfo() takes 3 positional arguments but 4 were given")


@pytest.fixture
async def usage(tmp_path: Path) -> AsyncIterator[UsageStatsService]:
    """A service with what a host that says nothing about itself has: no version, real clock."""
    service = UsageStatsService(tmp_path / "usage.db", app_version=UNKNOWN_VERSION, environ={})
    await service.start()
    yield service
    await service.stop()


async def _report_then_remote_delete(usage: UsageStatsService, server: AggregationServer) -> None:
    """Opt in, deliver a report and delete it remotely, through http://localhost:<port>."""
    endpoint = f"http://localhost:{server.port}"
    submitter = Submitter(usage, default_endpoint=endpoint, timeout=30.0)
    await server.start()
    try:
        usage.record_event("job_completed", {"printer_type": "bambu_lab"})
        await usage.set_printer_fleet({"bambu_lab": 1})
        installation_id = str((await usage.opt_in()).installation_id)
        status = await submitter.submit_now()
        assert status.last_error is None, status.last_error
        assert status.state is SharingState.ON
        assert await server.count(installation_id) == 1
        stored = await server.repo.submission_ids()
        assert {e.submission_id for e in await usage.store.outbox_entries()} <= stored

        await submitter.opt_out(delete_remote=True)

        async def deleted() -> bool:
            return await server.count(installation_id) == 0

        await wait_for(deleted, limit=60)
        assert await server.repo.deletion_key_hash(installation_id) == (False, None)
        assert (await submitter.status()).state is SharingState.OFF
    finally:
        await submitter.stop()
        await server.stop()


async def test_report_and_remote_deletion_reach_the_server_by_host_name(
    usage: UsageStatsService, tmp_path: Path
) -> None:
    await _report_then_remote_delete(usage, AggregationServer(tmp_path))


async def test_the_submitter_resolves_host_names_whatever_aiohttps_default_resolver_does(
    usage: UsageStatsService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The host's environment decides aiohttp's default resolver (aiodns when importable); the
    # submitter's own session must not depend on it.
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", BrokenResolver)
    server = AggregationServer(tmp_path)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TypeError):
            await session.get(f"http://localhost:{server.port}/health")
    await _report_then_remote_delete(usage, server)
