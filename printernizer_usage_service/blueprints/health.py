"""GET /health: liveness for Docker's healthcheck and monitors."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_response

from .. import __version__
from ..runtime import runtime
from ..schemas import HealthResponse

health = Blueprint("health", __name__)


@health.get("/health")
@document_response(HealthResponse)
async def get_health() -> dict[str, Any]:
    """Cheap: one settings read, no network."""
    state = runtime()
    service = state.service
    sharing = "unknown"
    if service.blocked_by_environment:
        sharing = "blocked"
    elif service.store.is_open:
        sharing = "on" if (await service.get_settings()).opted_in else "off"
    return HealthResponse(  # dumped: Quart's route typing does not know pydantic models
        status="ok" if service.store.is_open else "starting",
        version=__version__,
        sharing=sharing,
        token_required=state.config.token_required,
        queued_events=service.recorder.pending,
    ).model_dump(mode="json")
