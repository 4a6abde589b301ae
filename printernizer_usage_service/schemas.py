"""Request and response models of the REST API (they also make the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from printernizer_usage_core.models import (
    CONSENT_VERSION,
    ConsentVersion,
    PrinterFleetStats,
    UsageSettings,
)
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt


class _Body(BaseModel):
    """Request bodies reject unknown fields so typos are reported, not ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """What every 4xx answer carries."""

    error: str = Field(description="A sentence saying what was wrong and how to fix it.")
    details: list[str] = Field(default_factory=list)


class OptInRequest(_Body):
    """Switch sharing on; records the consent version the user agreed to."""

    consent_version: ConsentVersion = CONSENT_VERSION
    endpoint: str | None = Field(
        default=None, description="Aggregation server base URL (https, or http on 127.0.0.1)."
    )


class OptOutRequest(_Body):
    """Switch sharing off."""

    delete_remote: StrictBool = Field(
        default=False, description="Also ask the aggregation server to delete this installation."
    )


class OptOutResponse(BaseModel):
    """The settings after opting out and what happened on the server."""

    settings: UsageSettings
    remote_deleted: bool
    remote_error: str | None = None


class DeleteAllResponse(BaseModel):
    """Everything local is gone; a later opt-in is a new installation."""

    deleted: bool
    settings: UsageSettings
    remote_deleted: bool = False
    remote_error: str | None = None


class EventIn(_Body):
    """One host event; metadata keys outside the allow-list are dropped and reported."""

    event_type: str = Field(min_length=1, max_length=64, examples=["job_completed"])
    metadata: dict[str, Any] | None = Field(
        default=None, max_length=32, examples=[{"printer_type": "bambu_lab", "duration": 5400}]
    )


class EventBatchIn(_Body):
    """A batch of events (a single event object or a JSON list is accepted too)."""

    events: list[EventIn] = Field(max_length=500)


class DroppedField(BaseModel):
    """A metadata key the privacy guard removed before storing the event."""

    key: str
    reason: str


class EventResult(BaseModel):
    """The fate of one event of the request, by its position."""

    index: int
    accepted: bool
    event_type: str | None = None
    reason: str | None = Field(default=None, description="Why the event was refused.")
    dropped_fields: list[DroppedField] = Field(default_factory=list)


class EventsResponse(BaseModel):
    """How many events were stored and, per index, what was refused or trimmed."""

    accepted: int
    refused: int
    results: list[EventResult]


class FleetRequest(_Body):
    """The printer fleet snapshot: how many printers of each family."""

    printers: dict[str, StrictInt] = Field(
        max_length=32, examples=[{"bambu_lab": 3, "prusa_core": 1}]
    )


class FleetResponse(BaseModel):
    """The fleet as the next report will carry it."""

    printer_fleet: PrinterFleetStats


class FeaturesRequest(_Body):
    """Feature on/off flags to merge into the snapshot."""

    features: dict[str, StrictBool] = Field(max_length=64, examples=[{"auto_download": True}])


class FeaturesResponse(BaseModel):
    """All feature flags after the merge (refused names are listed)."""

    features: dict[str, bool]
    refused: list[str] = Field(default_factory=list)


class HealthResponse(BaseModel):
    """Liveness and the little a monitor needs."""

    status: str
    version: str
    sharing: str
    token_required: bool
    queued_events: int
