"""Printernizer's own API shapes beside ours, so its settings page works against this service.

Printernizer's page (frontend/js/usage-statistics.js) calls the same paths as ours under
/api/v1/usage-stats/ but reads other fields. Our answers keep every field they have and gain
Printernizer's (never overwriting ours); DELETE /api/v1/usage-stats is added as Printernizer has it.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from printernizer_usage_core.printernizer_compat import (
    DeleteResponse,
    LocalStatsResponse,
    OptInResponse,
    StatusResponse,
    export_document,
    local_stats_response,
    opt_in_response,
)
from pydantic import BaseModel
from quart import Blueprint, Response, request
from quart_schema import OpenAPIProvider, document_response
from quart_schema import security_scheme as schema_security

from ..runtime import runtime
from ..security import check_access

_LOGGER = logging.getLogger(__name__)
PREFIX = "/api/v1/usage-stats"
upstream = Blueprint("upstream", __name__, url_prefix=PREFIX)
JsonBody = dict[str, Any]


@upstream.before_request
async def _guard() -> None:
    check_access(runtime().config)


@upstream.delete("")
@schema_security([{"token": []}])
@document_response(DeleteResponse)
async def delete_everything() -> JsonBody:
    """Printernizer's "delete all local statistics": everything local goes, sharing ends."""
    state = runtime()
    deleted, _oldest = await state.service.store.count_events()
    await state.delivery.opt_out(False)
    await state.service.delete_all()
    return DeleteResponse(
        success=True,
        deleted_events=deleted,
        message="All local usage statistics were deleted; sharing is off.",
    ).model_dump(mode="json")


# Printernizer's fields come from the service itself, not from our answer's body, so a change
# to our own answers cannot break them.
async def _local(body: JsonBody) -> JsonBody:
    state = runtime()
    stats = await state.service.local_stats(days=7)
    last = (await state.delivery.status()).last_success
    return local_stats_response(stats, last).model_dump(mode="json")


async def _opt_in(body: JsonBody) -> JsonBody:
    settings = await runtime().service.get_settings()
    return opt_in_response(settings.installation_id, opted_in=True).model_dump(mode="json")


async def _opt_out(body: JsonBody) -> JsonBody:
    return opt_in_response(None, opted_in=False).model_dump(mode="json")


async def _status(body: JsonBody) -> JsonBody:
    service = runtime().service
    total, _oldest = await service.store.count_events()
    return StatusResponse(
        service_available=True,
        opted_in=await service.is_opted_in(),
        total_events=total,
        collection_active=True,
    ).model_dump(mode="json")


async def _export(body: JsonBody) -> JsonBody:
    return export_document(body)


# (method, path) of our routes whose answers also carry Printernizer's fields.
AUGMENT: dict[tuple[str, str], Callable[[JsonBody], Awaitable[JsonBody]]] = {
    ("GET", f"{PREFIX}/local"): _local,
    ("POST", f"{PREFIX}/opt-in"): _opt_in,
    ("POST", f"{PREFIX}/opt-out"): _opt_out,
    ("GET", f"{PREFIX}/status"): _status,
    ("GET", f"{PREFIX}/export"): _export,
}


@upstream.after_app_request
async def _add_upstream_fields(response: Response) -> Response:
    build = AUGMENT.get((request.method, request.path))
    if build is None or response.status_code != 200 or response.mimetype != "application/json":
        return response
    try:
        body = json.loads(await response.get_data(as_text=True))
        if not isinstance(body, dict):
            return response
        for key, value in (await build(body)).items():
            body.setdefault(key, value)
    except Exception:
        # Our own answer goes out unchanged rather than becoming an error.
        _LOGGER.warning(
            "Printernizer's fields could not be added to %s", request.path, exc_info=True
        )
        return response
    indent = 2 if request.path.endswith("/export") else None
    response.set_data(json.dumps(body, indent=indent, default=str, ensure_ascii=False))
    return response


# Printernizer's model of each answer above that is a model (the export is a free document).
UPSTREAM_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("GET", f"{PREFIX}/local"): LocalStatsResponse,
    ("POST", f"{PREFIX}/opt-in"): OptInResponse,
    ("POST", f"{PREFIX}/opt-out"): OptInResponse,
    ("GET", f"{PREFIX}/status"): StatusResponse,
}
REF = "#/components/schemas/{model}"


def document_upstream_fields(spec: dict[str, Any]) -> None:
    """Give each answer that gains Printernizer's fields a schema that names them too.

    Our answer schemas refuse unknown properties, so the document states the combined shape
    (ours, plus Printernizer's fields as optional ones) under a schema of its own.
    """
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for (method, path), model in UPSTREAM_MODELS.items():
        operation = spec.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue
        # quart-schema keys the answers by int until the document is serialised.
        answers = operation["responses"]
        content = (answers.get(200) or answers["200"])["content"]["application/json"]
        ours = content["schema"]
        if "$ref" in ours:
            name = ours["$ref"].rsplit("/", 1)[-1]
        else:
            name = ours.get("title") or (method.title() + path.rsplit("/", 1)[-1].title())
        combined = copy.deepcopy(components[name] if "$ref" in ours else ours)
        theirs = model.model_json_schema(ref_template=REF)
        components.update(theirs.pop("$defs", {}))
        for key, value in theirs["properties"].items():
            combined["properties"].setdefault(key, value)
        combined_name = f"{name}With{model.__name__}"
        combined["title"] = combined_name
        components[combined_name] = combined
        content["schema"] = {"$ref": REF.format(model=combined_name)}


class UpstreamFieldsProvider(OpenAPIProvider):
    """quart-schema's document, with the answers that carry Printernizer's fields described."""

    def schema(self) -> Any:
        """The OpenAPI document (see document_upstream_fields)."""
        spec = super().schema()
        document_upstream_fields(spec)
        return spec
