"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from quart import Blueprint, Response

from .common import metrics

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
async def prometheus() -> Response:
    """Requests, latency, submissions by outcome, DB errors, rows stored."""
    m = metrics()
    return Response(m.render(), content_type=m.content_type)
