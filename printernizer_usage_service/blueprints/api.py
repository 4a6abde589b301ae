"""REST API under /api/v1/usage-stats/: what Printernizer and the page call."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from printernizer_usage_core.models import LocalStats, SubmissionStatus, UsageSettings
from pydantic import BaseModel, Field
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response
from quart_schema import security_scheme as schema_security

from ..config import ConfigError, check_endpoint_url
from ..errors import ApiError, load_body, read_json
from ..events import record_batch, split_batch
from ..runtime import runtime
from ..schemas import (
    DeleteAllResponse,
    ErrorResponse,
    EventBatchIn,
    EventsResponse,
    FeaturesRequest,
    FeaturesResponse,
    FleetRequest,
    FleetResponse,
    OptInRequest,
    OptOutRequest,
    OptOutResponse,
)
from ..security import check_write

api = Blueprint("api", __name__, url_prefix="/api/v1/usage-stats")
TOKEN: list[dict[str, list[str]]] = [{"token": []}]
JsonBody = dict[str, Any]


def dump(model: BaseModel) -> JsonBody:
    """A response model as the JSON-ready dict Quart sends."""
    return model.model_dump(mode="json")


class DaysQuery(BaseModel):
    """How many days of daily history the local view returns."""

    days: int = Field(default=30, ge=1, le=400)


class DeleteQuery(BaseModel):
    """Delete-all options."""

    delete_remote: bool = False


@api.before_request
async def _guard() -> None:
    check_write(runtime().config)


@api.get("/local")
@document_querystring(DaysQuery)
@document_response(LocalStats)
@document_response(ErrorResponse, 400)
async def local() -> LocalStats:
    """This installation's own statistics: settings, this week, daily history."""
    raw = request.args.get("days", "30")
    try:
        query = DaysQuery(days=int(raw))
    except ValueError:
        raise ApiError(400, "days must be a whole number between 1 and 400") from None
    return await runtime().service.local_stats(days=query.days)


@api.get("/settings")
@document_response(UsageSettings)
async def settings() -> UsageSettings:
    """The sharing choice, consent version, installation id and endpoint."""
    return await runtime().service.get_settings()


@api.post("/opt-in")
@schema_security(TOKEN)
@document_request(OptInRequest)
@document_response(UsageSettings)
@document_response(ErrorResponse, 400)
async def opt_in() -> UsageSettings:
    """Switch sharing on, recording the consent version the user agreed to."""
    body = await load_body(OptInRequest, optional=True)
    endpoint = None
    if body.endpoint is not None:
        try:
            endpoint = check_endpoint_url(body.endpoint)
        except ConfigError as err:
            raise ApiError(400, str(err)) from None
    # The submitter listens for this change and sends the first report right away.
    return await runtime().service.opt_in(body.consent_version, endpoint=endpoint)


@api.post("/opt-out")
@schema_security(TOKEN)
@document_request(OptOutRequest)
@document_response(OptOutResponse)
@document_response(ErrorResponse, 400)
async def opt_out() -> JsonBody:
    """Switch sharing off; with delete_remote also delete this installation on the server."""
    body = await load_body(OptOutRequest, optional=True)
    state = runtime()
    result = await state.delivery.opt_out(body.delete_remote)
    return dump(
        OptOutResponse(
            settings=await state.service.get_settings(),
            remote_deleted=result.remote_deleted,
            remote_error=result.remote_error,
        )
    )


@api.get("/export")
@schema_security(TOKEN)
async def export() -> Response:
    """Everything stored locally, as a JSON file download."""
    data = await runtime().service.export()
    day = datetime.now(UTC).date().isoformat()
    body = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    return Response(
        body,
        content_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="printernizer-usage-export-{day}.json"',
            "Cache-Control": "no-store",
        },
    )


@api.delete("/delete-all")
@schema_security(TOKEN)
@document_querystring(DeleteQuery)
@document_response(DeleteAllResponse)
async def delete_all() -> JsonBody:
    """Forget everything local (optionally the server's copy first); sharing ends."""
    raw = request.args.get("delete_remote", "false").strip().lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise ApiError(400, "delete_remote must be true or false")
    state = runtime()
    # Opting out first cancels any delivery in flight (and asks the server, when wanted).
    result = await state.delivery.opt_out(raw in ("true", "1"))
    await state.service.delete_all()
    return dump(
        DeleteAllResponse(
            deleted=True,
            settings=await state.service.get_settings(),
            remote_deleted=result.remote_deleted,
            remote_error=result.remote_error,
        )
    )


@api.get("/preview")
async def preview() -> Response:
    """The exact bytes the next report sends (also before opting in)."""
    text = await runtime().service.preview()
    return Response(text, content_type="application/json", headers={"Cache-Control": "no-store"})


@api.get("/status")
@document_response(SubmissionStatus)
async def status() -> SubmissionStatus:
    """Delivery state: off, on, failing or blocked, with last and next attempt."""
    return await runtime().delivery.status()


@api.post("/submit-now")
@schema_security(TOKEN)
@document_response(SubmissionStatus)
@document_response(ErrorResponse, 409)
async def submit_now() -> SubmissionStatus:
    """Send every closed period that is due now (only when sharing is on)."""
    state = runtime()
    settings = await state.service.get_settings()
    if settings.blocked_by_environment:
        raise ApiError(409, "sending is blocked by DO_NOT_TRACK or PRINTERNIZER_USAGE_DISABLED")
    if not settings.opted_in:
        raise ApiError(409, "sharing is off; opt in first")
    try:
        return await asyncio.wait_for(state.delivery.submit_now(), timeout=60)
    except TimeoutError:
        raise ApiError(504, "the aggregation server did not answer in time") from None


@api.post("/events")
@schema_security(TOKEN)
@document_request(EventBatchIn)
@document_response(EventsResponse)
@document_response(ErrorResponse, 400)
async def events() -> JsonBody:
    """Record one event or a batch; refusals are reported per index and not stored."""
    state = runtime()
    items = split_batch(await read_json(), state.config.max_batch)
    return dump(record_batch(state.service, items))


@api.get("/fleet")
@document_response(FleetResponse)
async def get_fleet() -> JsonBody:
    """The printer fleet snapshot as the next report carries it."""
    return dump(FleetResponse(printer_fleet=await runtime().service.printer_fleet_stats()))


@api.put("/fleet")
@schema_security(TOKEN)
@document_request(FleetRequest)
@document_response(FleetResponse)
@document_response(ErrorResponse, 400)
async def put_fleet() -> JsonBody:
    """Replace the fleet snapshot (printer counts per family; unknown families count as unknown)."""
    body = await load_body(FleetRequest)
    bad = [k for k, v in body.printers.items() if not 0 <= v <= 1000]
    if bad:
        raise ApiError(400, "printer counts must be between 0 and 1000", bad)
    service = runtime().service
    await service.set_printer_fleet(body.printers)
    return dump(FleetResponse(printer_fleet=await service.printer_fleet_stats()))


@api.put("/features")
@schema_security(TOKEN)
@document_request(FeaturesRequest)
@document_response(FeaturesResponse)
@document_response(ErrorResponse, 400)
async def put_features() -> JsonBody:
    """Merge feature on/off flags (lower-case identifiers) into the snapshot."""
    body = await load_body(FeaturesRequest)
    features = await runtime().service.set_features(body.features)
    refused = [name for name in body.features if name not in features]
    return dump(FeaturesResponse(features=features, refused=refused))
