"""Response shapes, for the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel


class SubmitResult(BaseModel):
    """Answer to POST /submit: accepted (201) or duplicate (200)."""

    status: str
    submission_id: str


class ErrorBody(BaseModel):
    """Every error: a message users can act on (plus details such as the field)."""

    error: str
    field: str | None = None


class DeleteResult(BaseModel):
    """Answer to DELETE /installation/{id}."""

    status: str
    installation_id: str
    rows_deleted: int


class Health(BaseModel):
    """Answer to GET /health."""

    status: str
    database: str
    backend: str | None = None
