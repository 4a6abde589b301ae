"""GET / and GET /health (a real database round trip; 503 when it fails)."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response
from quart_schema import document_response

from ..responses import json_response
from ..schemas import Health
from .common import metrics, repository, settings

blueprint = Blueprint("health", __name__)
SERVICE = "printernizer-aggregation"


@blueprint.get("/")
async def index() -> Response:
    """What this service is and where to look next."""
    return json_response(
        {
            "service": SERVICE,
            "description": "Anonymous, opt-in usage statistics for Printernizer.",
            "endpoints": {
                "submit": "POST /submit",
                "delete": "DELETE /installation/{id}",
                "health": "GET /health",
                "metrics": "GET /metrics",
                "stats": "GET /stats/* (admin)",
                "openapi": "GET /openapi.json",
                "docs": "GET /docs",
            },
            "admin_enabled": settings().admin_enabled,
        }
    )


@blueprint.get("/health")
@document_response(Health, 200)
@document_response(Health, 503)
async def health() -> Response:
    """Checks the database for real."""
    repo = repository()
    try:
        await asyncio.wait_for(repo.ping(), timeout=5)
    except Exception:  # any failure means "down", whatever the driver raised
        metrics().db_errors.labels("health").inc()
        return json_response(
            {"status": "unavailable", "database": "down", "backend": repo.backend}, 503
        )
    return json_response({"status": "ok", "database": "ok", "backend": repo.backend})
