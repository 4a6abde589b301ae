"""Response shapes quart-schema documents from the routes (the rest: aggregation/openapi.py)."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    """Answer to GET /health."""

    status: str
    database: str
    backend: str | None = None
