"""The standalone service answers Printernizer's API shapes beside ours, over real HTTP."""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from printernizer_usage_core.printernizer_compat import translate_event

from printernizer_usage_service.blueprints import upstream
from tests.service.conftest import API, RunningService, ServiceFactory

from . import upstream_shapes as shapes
from .call_sites import CALL_SITES


async def record_call_sites(http: aiohttp.ClientSession, svc: RunningService) -> int:
    """Post every call site as Printernizer's client would; returns how many were accepted."""
    events = []
    for site in CALL_SITES:
        name, meta = translate_event(site.event_type, site.metadata)
        events.append({"event_type": name, "metadata": meta})
    async with http.post(svc.api("/events"), json={"events": events}) as resp:
        assert resp.status == 200
        body = await resp.json()
    await svc.runtime.service.flush()
    return int(body["accepted"])


async def test_every_upstream_route_has_upstreams_shape_and_ours(
    svc: RunningService, http: aiohttp.ClientSession
) -> None:
    async with http.get(svc.api("/status")) as resp:
        status = shapes.StatusResponse.model_validate_json(await resp.text())
    assert status.service_available and not status.opted_in and status.collection_active
    assert status.model_extra and status.model_extra["state"] == "off"  # ours is still there

    async with http.get(svc.api("/local")) as resp:
        local = shapes.LocalStatsResponse.model_validate_json(await resp.text())
    assert local.installation_id == "not_generated" and local.opt_in_status == "disabled"
    assert set(local.this_week) == shapes.THIS_WEEK_KEYS

    async with http.post(svc.api("/opt-in")) as resp:  # Printernizer's page posts no body
        assert resp.status == 200
        opted = shapes.OptInResponse.model_validate_json(await resp.text())
    assert opted.success and uuid.UUID(opted.installation_id or "")
    assert opted.model_extra and opted.model_extra["opted_in"] is True

    accepted = await record_call_sites(http, svc)
    assert accepted == sum(1 for s in CALL_SITES if s.kept is not None)

    async with http.get(svc.api("/local")) as resp:
        local = shapes.LocalStatsResponse.model_validate_json(await resp.text())
    assert local.installation_id == opted.installation_id
    assert local.opt_in_status == "enabled"
    assert local.total_events == accepted
    assert local.this_week == {"job_count": 3, "file_count": 1, "error_count": 2}
    assert local.first_seen is not None
    assert local.model_extra and "daily" in local.model_extra  # our viewer's fields stay

    async with http.get(svc.api("/status")) as resp:
        status = shapes.StatusResponse.model_validate_json(await resp.text())
    assert status.opted_in and status.total_events == accepted

    async with http.get(svc.api("/export")) as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        assert "attachment" in resp.headers["Content-Disposition"]
        export = shapes.ExportDocument.model_validate_json(await resp.text())
    assert len(export.events) == accepted and export.export_version == "1.0"
    assert export.model_extra and "tables" in export.model_extra

    async with http.post(svc.api("/opt-out")) as resp:
        out = shapes.OptInResponse.model_validate_json(await resp.text())
    assert out.success and out.installation_id is None
    assert out.model_extra and out.model_extra["settings"]["opted_in"] is False

    async with http.delete(f"{svc.url}{API}") as resp:
        assert resp.status == 200
        deleted = shapes.DeleteResponse.model_validate_json(await resp.text())
    assert deleted.success and deleted.deleted_events == accepted
    async with http.get(svc.api("/local")) as resp:
        after = shapes.LocalStatsResponse.model_validate_json(await resp.text())
    assert after.total_events == 0 and after.installation_id == "not_generated"


async def test_errors_are_left_alone(svc: RunningService, http: aiohttp.ClientSession) -> None:
    async with http.get(svc.api("/local?days=0")) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert "opt_in_status" not in body and body["error"]


async def test_upstream_delete_is_guarded_like_our_writes(
    start_service: ServiceFactory, http: aiohttp.ClientSession
) -> None:
    svc = await start_service(token="a-long-enough-token")
    async with http.delete(f"{svc.url}{API}") as resp:
        assert resp.status == 401
    async with http.delete(f"{svc.url}{API}", headers={"Origin": "http://evil.example"}) as resp:
        assert resp.status == 403
    async with http.delete(
        f"{svc.url}{API}", headers={"Authorization": "Bearer a-long-enough-token"}
    ) as resp:
        assert resp.status == 200
        assert shapes.DeleteResponse.model_validate_json(await resp.text()).deleted_events == 0


async def test_a_failing_addition_leaves_our_answer_intact(
    svc: RunningService, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(body: dict[str, object]) -> dict[str, object]:
        raise RuntimeError("fault injected into the compatibility layer")

    monkeypatch.setitem(upstream.AUGMENT, ("GET", f"{API}/status"), broken)
    async with http.get(svc.api("/status")) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["state"] == "off" and "service_available" not in body
