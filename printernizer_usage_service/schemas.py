"""Request and response models of the REST API (they also make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from printernizer_usage_core.models import (
    CONSENT_VERSION,
    ConsentVersion,
    LocalStats,
    PrinterFleetStats,
    PrinterType,
    SubmissionStatus,
    UsageSettings,
)
from printernizer_usage_core.registry import KNOWN_FEATURES
from printernizer_usage_core.submitter import SendResult
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.config import JsonDict


class _Body(BaseModel):
    """Request bodies reject unknown fields so typos are reported, not ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """What every 4xx answer carries."""

    error: str = Field(description="A sentence saying what was wrong and how to fix it.")
    details: list[str] = Field(default_factory=list)


class SettingsResponse(UsageSettings):
    """The sharing choice and identity, with where reports actually go."""

    endpoint: str = Field(
        description="The aggregation server reports are sent to (never empty): the one chosen "
        "at opt-in, else the one this service was started with, else the project server."
    )
    endpoint_source: Literal["chosen", "configured", "default"] = Field(
        description="chosen: sent with opt-in; configured: --endpoint or "
        "PRINTERNIZER_USAGE_ENDPOINT; default: the Printernizer project server."
    )


class LocalResponse(LocalStats):
    """This installation's own statistics, with the settings as GET settings shows them."""

    settings: SettingsResponse


class StatusResponse(SubmissionStatus):
    """Delivery state (off, on, failing, blocked) and why sending may be blocked.

    on: opted in, and the last attempt succeeded or none was due yet. failing: the last
    attempt to deliver a due report failed (no connection, a refusal, a server error; see
    last_error) — from the first failed attempt until the next success. blocked:
    DO_NOT_TRACK or PRINTERNIZER_USAGE_DISABLED forbids sending. off: not opted in;
    last_error then concerns a deletion request. sending_enabled and blocked_by say whether
    this service sends at all (--no-submit: never, whatever the state).
    """

    blocked_by: Literal["environment", "no_submit"] | None = Field(
        default=None,
        description="environment: DO_NOT_TRACK or PRINTERNIZER_USAGE_DISABLED is set; "
        "no_submit: the service runs with --no-submit (statistics stay local).",
    )
    sending_enabled: bool = Field(
        description="False when this service never sends (--no-submit or the environment)."
    )


class SubmitNowResponse(StatusResponse):
    """What "send now" did, and the delivery state after it."""

    result: SendResult = Field(
        description="sent: the server acknowledged a report; nothing_due: no report was "
        "waiting (the next one is due after the current week); failed: the attempt failed "
        "(see last_error); waiting: the server asked to wait (see next_attempt)."
    )
    delivered_periods: int = Field(ge=0, description="Reports the server accepted just now.")


class OptInRequest(_Body):
    """Switch sharing on; records the consent version the user agreed to."""

    consent_version: ConsentVersion = Field(
        default=CONSENT_VERSION,
        description=f"The privacy policy version agreed to: {CONSENT_VERSION}, the one this "
        "service shows (the preview's). Any other version is a 400.",
    )
    endpoint: str | None = Field(
        default=None,
        max_length=2000,
        description="Aggregation server base URL: https, or http to this machine (127.0.0.1, "
        "localhost, ::1); no credentials, query or fragment. Anything else is a 400.",
    )

    @field_validator("consent_version")
    @classmethod
    def _the_shown_policy(cls, value: str) -> str:
        # Consent counts for the policy the user was shown; the preview and the report
        # carry this version, so what is sent is what was previewed.
        if value != CONSENT_VERSION:
            raise ValueError(
                f"only {CONSENT_VERSION}, the policy this service shows, can be agreed to"
            )
        return value


class OptOutRequest(_Body):
    """Switch sharing off."""

    delete_remote: StrictBool = Field(
        default=False, description="Also ask the aggregation server to delete this installation."
    )


class OptOutResponse(BaseModel):
    """The settings after opting out and what happened on the server."""

    settings: SettingsResponse
    remote_deleted: bool
    remote_error: str | None = None


class DeleteAllResponse(BaseModel):
    """Everything local is gone; a later opt-in is a new installation."""

    deleted: bool
    settings: SettingsResponse
    remote_deleted: bool = False
    remote_error: str | None = None


class ExportResponse(BaseModel):
    """Everything stored locally, as downloaded (the deletion secret included: keep it safe)."""

    exported_at: datetime
    settings: UsageSettings = Field(description="The settings exactly as stored.")
    tables: dict[str, list[dict[str, Any]]] = Field(description="Every stored row, by table.")
    next_payload: str = Field(description="The next report, byte for byte (GET preview).")


class EventIn(_Body):
    """One host event; metadata keys outside the allow-list are dropped and reported."""

    event_type: str = Field(min_length=1, max_length=64, examples=["job_completed"])
    metadata: dict[str, Any] | None = Field(
        default=None, max_length=32, examples=[{"printer_type": "bambu_lab", "duration": 5400}]
    )


class EventBatchIn(_Body):
    """A batch of events (a single event object or a JSON list is accepted too)."""

    events: list[EventIn] = Field(min_length=1, max_length=500)


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


MAX_PRINTERS_PER_FAMILY = 1000
# Keys and values are checked by the route (refusals name positions, never the keys), so the
# model takes any JSON value and the document says what is accepted.
FLEET_SCHEMA: JsonDict = {
    "propertyNames": {"enum": sorted(family.value for family in PrinterType)},
    "additionalProperties": {"type": "integer", "minimum": 0, "maximum": MAX_PRINTERS_PER_FAMILY},
}
FEATURES_SCHEMA: JsonDict = {
    # The registry is the rule (core/registry.py), so the document lists exactly its names.
    "propertyNames": {"enum": sorted(KNOWN_FEATURES)},
    "additionalProperties": {"type": "boolean"},
}


class FleetRequest(_Body):
    """The printer fleet snapshot: how many printers of each family."""

    printers: dict[str, Any] = Field(
        max_length=32,
        examples=[{"bambu_lab": 3, "prusa_core": 1}],
        json_schema_extra=FLEET_SCHEMA,
    )


class FleetResponse(BaseModel):
    """The fleet as the next report will carry it."""

    printer_fleet: PrinterFleetStats


class FeaturesRequest(_Body):
    """Feature on/off flags to merge into the snapshot."""

    features: dict[str, Any] = Field(
        max_length=64,
        examples=[{"auto_download": True}],
        description="Names the privacy guard refuses (they look like a name, a host, an "
        "address...) are answered with 400, even when they fit the pattern.",
        json_schema_extra=FEATURES_SCHEMA,
    )


class FeaturesResponse(BaseModel):
    """All feature flags after the merge."""

    features: dict[str, bool]


class HealthResponse(BaseModel):
    """Liveness and the little a monitor needs (answers 200 while the process works)."""

    status: Literal["ok", "starting", "failing"] = Field(
        description="failing: sharing is on but the last delivery attempt failed."
    )
    version: str
    sharing: Literal["off", "on", "failing", "blocked", "unknown"]
    last_error: str | None = Field(default=None, description="Why delivery is failing.")
    token_required: bool
    queued_events: int
