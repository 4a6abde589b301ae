"""GET /health: liveness for Docker's healthcheck and monitors."""

from __future__ import annotations

from typing import Any

from printernizer_usage_core.models import SharingState
from quart import Blueprint
from quart_schema import document_response

from .. import __version__
from ..runtime import runtime
from ..schemas import HealthResponse

health = Blueprint("health", __name__)


@health.get("/health")
@document_response(HealthResponse)
async def get_health() -> dict[str, Any]:
    """Cheap: a few settings reads, no network. 200 while the process works (Docker's
    healthcheck); `status` says `failing` while sharing is on and delivery fails."""
    state = runtime()
    service = state.service
    overall, sharing, last_error = "starting", "unknown", None
    if service.store.is_open:
        status = await state.delivery.status()
        failing = status.state is SharingState.FAILING
        overall, sharing = ("failing" if failing else "ok"), status.state.value
        last_error = status.last_error if failing else None
    return HealthResponse(  # dumped: Quart's route typing does not know pydantic models
        status=overall,
        version=__version__,
        sharing=sharing,
        last_error=last_error,
        token_required=state.config.token_required,
        queued_events=service.recorder.pending,
    ).model_dump(mode="json")
