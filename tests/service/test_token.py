"""Token enforcement: writes and identity reads, beyond loopback and on it."""

from __future__ import annotations

import aiohttp
import pytest

from printernizer_usage_service.config import ConfigError, ServiceConfig

from .conftest import ServiceFactory

TOKEN = "s3cret-token-for-tests"


def test_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="needs a token"):
        ServiceConfig().with_overrides(host="0.0.0.0")
    with pytest.raises(ConfigError, match="at least 12"):
        ServiceConfig().with_overrides(host="0.0.0.0", token="short")
    assert ServiceConfig().with_overrides(host="0.0.0.0", token=TOKEN).token_required


async def test_writes_and_identity_reads_need_the_token(
    start_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    svc = await start_service(host="0.0.0.0", token=TOKEN)
    writes = [
        ("POST", "/opt-in", {}),
        ("POST", "/opt-out", {}),
        ("POST", "/events", {"event_type": "app_start"}),
        ("PUT", "/fleet", {"printers": {"klipper": 1}}),
        ("PUT", "/features", {"features": {"x": True}}),
        ("POST", "/submit-now", None),
        ("DELETE", "/delete-all", None),
        # Reads that show the installation id, the deletion secret or its hash.
        ("GET", "/export", None),
        ("GET", "/preview", None),
        ("GET", "/settings", None),
        ("GET", "/local", None),
    ]
    for method, path, body in writes:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-value"},
            {"Authorization": TOKEN},
        ):
            async with http.request(method, svc.api(path), json=body, headers=headers) as response:
                assert response.status == 401, (method, path, headers)
                assert "token" in (await response.json())["error"]
    # Reads without identity stay open; the page itself loads without a token.
    for path in ("/status", "/fleet"):
        async with http.get(svc.api(path)) as response:
            assert response.status == 200, path
            assert "installation_id" not in await response.text()
    async with http.get(f"{svc.url}/health") as response:
        assert (await response.json())["token_required"] is True
    async with http.get(f"{svc.url}/") as response:
        assert 'data-token-required="true"' in await response.text()
    # The right token, as a bearer or in the header, works.
    async with http.post(
        svc.api("/opt-in"), json={}, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        assert response.status == 200
    async with http.post(
        svc.api("/events"),
        json={"event_type": "app_start"},
        headers={"X-Printernizer-Token": TOKEN},
    ) as response:
        assert (await response.json())["accepted"] == 1
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/preview", "/settings", "/local", "/export"):
        async with http.get(svc.api(path), headers=auth) as response:
            assert response.status == 200, path
    # Any Host name is fine beyond loopback (the token protects it instead).
    async with http.get(svc.api("/local"), headers={**auth, "Host": "printer-pi.lan"}) as r:
        assert r.status == 200


async def test_token_on_loopback_is_enforced_too(
    start_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    svc = await start_service(token=TOKEN)
    async with http.post(svc.api("/opt-in")) as response:
        assert response.status == 401
    async with http.post(svc.api("/opt-in"), headers={"Authorization": f"bearer {TOKEN}"}) as r:
        assert r.status == 200
