"""REST API under /api/v1/usage-stats/: what Printernizer and the page call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from printernizer_usage_core.models import AggregatedStats, PrinterType
from printernizer_usage_core.privacy import sanitize_feature_flags
from pydantic import BaseModel, Field
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response
from quart_schema import security_scheme as schema_security

from ..config import ConfigError, check_endpoint_url
from ..errors import ApiError, load_body, read_json
from ..events import record_batch, split_batch
from ..runtime import runtime
from ..schemas import (
    MAX_PRINTERS_PER_FAMILY,
    DeleteAllResponse,
    ErrorResponse,
    EventBatchIn,
    EventsResponse,
    ExportResponse,
    FeaturesRequest,
    FeaturesResponse,
    FleetRequest,
    FleetResponse,
    LocalResponse,
    OptInRequest,
    OptOutRequest,
    OptOutResponse,
    SettingsResponse,
    StatusResponse,
    SubmitNowResponse,
)
from ..security import check_access

api = Blueprint("api", __name__, url_prefix="/api/v1/usage-stats")

# The token as 'Authorization: Bearer <token>' (app.py declares the scheme).
TOKEN: list[dict[str, list[str]]] = [{"bearer": []}]
JsonBody = dict[str, Any]
Route = TypeVar("Route", bound=Callable[..., Any])
# Answers every route may give: a wrong Host name while bound to loopback (DNS rebinding).
COMMON_ERRORS = (421,)
# Answers of routes that read a JSON body.
BODY_ERRORS = (400, 413, 415)
# Answers of routes behind the token: no or a wrong token, another site's Origin.
TOKEN_ERRORS = (401, 403)


def errors(*statuses: int) -> Callable[[Route], Route]:
    """Document the ErrorResponse answers a route gives (the OpenAPI document is the contract)."""

    def decorate(route: Route) -> Route:
        for status in sorted({*statuses, *COMMON_ERRORS}):
            route = document_response(ErrorResponse, status)(route)
        return route

    return decorate


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
    check_access(runtime().config)


@api.get("/local")
@schema_security(TOKEN)
@document_querystring(DaysQuery)
@document_response(LocalResponse)
@errors(400, *TOKEN_ERRORS)
async def local() -> JsonBody:
    """This installation's own statistics: settings, this week, daily history."""
    raw = request.args.get("days", "30")
    try:
        query = DaysQuery(days=int(raw))
    except ValueError:
        raise ApiError(400, "days must be a whole number between 1 and 400") from None
    state = runtime()
    stats = await state.service.local_stats(days=query.days)
    settings = state.delivery.with_endpoint(stats.settings)
    return dump(LocalResponse.model_validate({**stats.model_dump(), "settings": settings}))


@api.get("/settings")
@schema_security(TOKEN)
@document_response(SettingsResponse)
@errors(*TOKEN_ERRORS)
async def settings() -> JsonBody:
    """The sharing choice, consent version, installation id and where reports go."""
    return dump(await runtime().delivery.settings())


@api.post("/opt-in")
@schema_security(TOKEN)
@document_request(OptInRequest)
@document_response(SettingsResponse)
@errors(*BODY_ERRORS, *TOKEN_ERRORS)
async def opt_in() -> JsonBody:
    """Switch sharing on, recording the consent version the user agreed to."""
    body = await load_body(OptInRequest, optional=True)
    endpoint = None
    if body.endpoint is not None:
        try:
            endpoint = check_endpoint_url(body.endpoint)
        except ConfigError as err:
            raise ApiError(400, str(err)) from None
    state = runtime()
    # The submitter listens for this change and sends the first report right away.
    settings = await state.service.opt_in(body.consent_version, endpoint=endpoint)
    return dump(state.delivery.with_endpoint(settings))


@api.post("/opt-out")
@schema_security(TOKEN)
@document_request(OptOutRequest)
@document_response(OptOutResponse)
@errors(*BODY_ERRORS, *TOKEN_ERRORS)
async def opt_out() -> JsonBody:
    """Switch sharing off; with delete_remote also delete this installation on the server."""
    body = await load_body(OptOutRequest, optional=True)
    state = runtime()
    result = await state.delivery.opt_out(body.delete_remote)
    return dump(
        OptOutResponse(
            settings=await state.delivery.settings(),
            remote_deleted=result.remote_deleted,
            remote_error=result.remote_error,
        )
    )


@api.get("/export")
@schema_security(TOKEN)
@document_response(ExportResponse)
@errors(*TOKEN_ERRORS)
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
@errors(400, *TOKEN_ERRORS)
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
            settings=await state.delivery.settings(),
            remote_deleted=result.remote_deleted,
            remote_error=result.remote_error,
        )
    )


@api.get("/preview")
@schema_security(TOKEN)
@document_response(AggregatedStats)
@errors(*TOKEN_ERRORS)
async def preview() -> Response:
    """The exact bytes the next report sends (also before opting in; writes nothing)."""
    text = await runtime().service.preview()
    return Response(text, content_type="application/json", headers={"Cache-Control": "no-store"})


@api.get("/status")
@document_response(StatusResponse)
@errors()
async def status() -> JsonBody:
    """Delivery state: off, on, failing or blocked, with last and next attempt."""
    return dump(await runtime().delivery.status())


@api.post("/submit-now")
@schema_security(TOKEN)
@document_response(SubmitNowResponse)
@errors(409, 504, *TOKEN_ERRORS)
async def submit_now() -> JsonBody:
    """Send every closed period that is due now (only when sharing is on and may send)."""
    state = runtime()
    settings = await state.service.get_settings()
    blocked_by = state.delivery.blocked_by
    if blocked_by == "environment":
        raise ApiError(409, "sending is blocked by DO_NOT_TRACK or PRINTERNIZER_USAGE_DISABLED")
    if blocked_by == "no_submit":
        raise ApiError(
            409,
            "this service runs with --no-submit: statistics stay local and nothing is sent; "
            "restart it without --no-submit to send reports",
        )
    if not settings.opted_in:
        raise ApiError(409, "sharing is off; opt in first")
    try:
        return dump(await asyncio.wait_for(state.delivery.send_now(), timeout=60))
    except TimeoutError:
        raise ApiError(504, "the aggregation server did not answer in time") from None


@api.post("/events")
@schema_security(TOKEN)
@document_request(EventBatchIn)
@document_response(EventsResponse)
@errors(*BODY_ERRORS, *TOKEN_ERRORS)
async def events() -> JsonBody:
    """Record one event or a batch; refusals are reported per index and not stored."""
    state = runtime()
    items = split_batch(await read_json(), state.config.max_batch)
    return dump(record_batch(state.service, items))


@api.get("/fleet")
@document_response(FleetResponse)
@errors()
async def get_fleet() -> JsonBody:
    """The printer fleet snapshot as the next report carries it."""
    return dump(FleetResponse(printer_fleet=await runtime().service.printer_fleet_stats()))


def _refuse_entries(
    what: str, entries: dict[str, Any], allowed: Callable[[str, Any], bool], rule: str
) -> None:
    """400 naming the positions of refused entries, never their keys (they may be personal)."""
    refused = [n for n, item in enumerate(entries.items(), start=1) if not allowed(*item)]
    if refused:
        where = ", ".join(str(index) for index in refused)
        raise ApiError(
            400,
            f"{len(refused)} {what} refused (entry number {where} of {len(entries)}); "
            f"nothing was changed. {rule}",
        )


@api.put("/fleet")
@schema_security(TOKEN)
@document_request(FleetRequest)
@document_response(FleetResponse)
@errors(*BODY_ERRORS, *TOKEN_ERRORS)
async def put_fleet() -> JsonBody:
    """Replace the fleet snapshot: printer counts per known family."""
    body = await load_body(FleetRequest)
    families = {family.value for family in PrinterType}
    _refuse_entries(
        "printer families",
        body.printers,
        lambda family, count: (
            family in families and type(count) is int and 0 <= count <= MAX_PRINTERS_PER_FAMILY
        ),
        f"Known families: {', '.join(sorted(families))}; counts are whole numbers from 0 to "
        f"{MAX_PRINTERS_PER_FAMILY}.",
    )
    service = runtime().service
    try:
        await service.set_printer_fleet(body.printers)
    except ValueError as err:
        raise ApiError(400, f"{err}; nothing was changed") from None
    return dump(FleetResponse(printer_fleet=await service.printer_fleet_stats()))


@api.put("/features")
@schema_security(TOKEN)
@document_request(FeaturesRequest)
@document_response(FeaturesResponse)
@errors(*BODY_ERRORS, *TOKEN_ERRORS)
async def put_features() -> JsonBody:
    """Merge feature on/off flags into the snapshot (names the privacy guard accepts)."""
    body = await load_body(FeaturesRequest)
    _refuse_entries(
        "feature flags",
        body.features,
        lambda name, on: type(on) is bool and bool(sanitize_feature_flags({name: on})),
        "Feature names are lower-case identifiers such as auto_download; values true or false.",
    )
    features = await runtime().service.set_features(body.features)
    return dump(FeaturesResponse(features=features))
