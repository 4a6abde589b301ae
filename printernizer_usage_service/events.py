"""Checking posted events one by one so each refusal is reported by index, never stored."""

from __future__ import annotations

from typing import Any

from printernizer_usage_core.privacy import EVENT_TYPES, Rejected
from printernizer_usage_core.service import UsageStatsService
from pydantic import ValidationError

from .errors import ApiError, validation_messages
from .schemas import DroppedField, EventIn, EventResult, EventsResponse


def split_batch(body: Any, max_batch: int) -> list[Any]:
    """The posted items: {"events": [...]}, a JSON list, or one event object."""
    if isinstance(body, dict) and "events" in body:
        extra = sorted(set(body) - {"events"})
        if extra:
            raise ApiError(400, f"unknown top-level field(s): {', '.join(extra)}")
        items = body["events"]
    elif isinstance(body, dict):
        items = [body]
    else:
        items = body
    if not isinstance(items, list):
        raise ApiError(400, 'send one event object, a list of them, or {"events": [...]}')
    if not items:
        raise ApiError(400, "the batch is empty; send at least one event")
    if len(items) > max_batch:
        raise ApiError(
            413, f"at most {max_batch} events per request (got {len(items)}); split the batch"
        )
    return items


def check_event(index: int, item: Any) -> tuple[EventResult, EventIn | None]:
    """The verdict on one item, and the event to record when it may be recorded."""
    if not isinstance(item, dict):
        reason = "an event must be a JSON object with event_type and metadata"
        return EventResult(index=index, accepted=False, reason=reason), None
    try:
        event = EventIn.model_validate(item)
    except ValidationError as err:
        reason = "; ".join(validation_messages(err))
        event_type = item.get("event_type") if isinstance(item.get("event_type"), str) else None
        return EventResult(index=index, accepted=False, event_type=event_type, reason=reason), None
    spec = EVENT_TYPES.get(event.event_type)
    if spec is None:
        reason = f"unknown event type; allowed: {', '.join(sorted(EVENT_TYPES))}"
        result = EventResult(
            index=index, accepted=False, event_type=event.event_type, reason=reason
        )
        return result, None
    dropped = []
    for key, value in (event.metadata or {}).items():
        rule = spec.fields.get(key)
        if rule is None:
            dropped.append(
                DroppedField(key=key, reason=f"not an allowed key for {event.event_type}")
            )
            continue
        try:
            rule.check(value)
        except Rejected as err:
            dropped.append(DroppedField(key=key, reason=str(err)))
    result = EventResult(
        index=index, accepted=True, event_type=event.event_type, dropped_fields=dropped
    )
    return result, event


def record_batch(service: UsageStatsService, items: list[Any]) -> EventsResponse:
    """Check every item, record the acceptable ones, report each by index."""
    results: list[EventResult] = []
    for index, item in enumerate(items):
        result, event = check_event(index, item)
        if event is not None and not service.record_event(event.event_type, event.metadata):
            # The guard passed it, so only a full queue (or the guard itself) can say no here.
            result = EventResult(
                index=index,
                accepted=False,
                event_type=event.event_type,
                reason="not recorded: the event queue is full or the privacy guard refused it",
            )
        results.append(result)
    accepted = sum(1 for r in results if r.accepted)
    return EventsResponse(accepted=accepted, refused=len(results) - accepted, results=results)
