"""POST /submit in Quart (documented in aggregation/openapi.py); the shared Intake does the work.

Requests normally reach aggregation.fastpath first, which runs the same Intake without
Quart's per-request machinery; this route serves any setup that calls Quart directly.
"""

from __future__ import annotations

from quart import Blueprint, Response, current_app, request

from ..intake import Intake, too_large
from ..responses import json_response
from .common import client_address

blueprint = Blueprint("submit", __name__)


async def _read_body(limit: int) -> bytes:
    body = await request.get_data(cache=False, as_text=False)
    raw = body if isinstance(body, bytes) else body.encode()
    if len(raw) > limit:  # chunked bodies carry no Content-Length
        raise too_large(limit)
    return raw


@blueprint.post("/submit")
async def submit() -> Response:
    """Store one usage report (schema 2.0 or Printernizer's 1.0); retries are idempotent."""
    intake: Intake = current_app.config["INTAKE"]
    reply = await intake.handle(
        request.headers.get,
        client_address(),
        request.content_length,
        _read_body,
    )
    return json_response(reply.body, reply.status, reply.headers)
