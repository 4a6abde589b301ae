"""Clear 4xx answers: one error type, body parsing with readable messages, error handlers."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from pydantic import BaseModel, ValidationError
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

_LOGGER = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the service will not do, with the status and a sentence for the caller."""

    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def json_error(status: int, message: str, details: list[str] | None = None) -> Response:
    """The JSON body every error answer carries."""
    body = json.dumps({"error": message, "details": details or []})
    return Response(body, status=status, content_type="application/json")


def validation_messages(err: ValidationError) -> list[str]:
    """Pydantic errors as short sentences such as "delete_remote: Input should be a boolean"."""
    messages = []
    for item in err.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        messages.append(f"{where}: {item['msg']}")
    return messages


# No body of this API nests deeper than an event batch (object, list, event, metadata) or
# needs a number beyond 64 bits; anything more is refused before it costs anything.
MAX_JSON_DEPTH = 16
MAX_NUMBER_CHARS = 24
_TOO_DEEP = f"the body nests deeper than {MAX_JSON_DEPTH} levels; send flat JSON"


class _BadNumber(ValueError):
    """A JSON number this API will not take."""


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _BadNumber
    return int(text)


def _real(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise _BadNumber
    return value


def _constant(text: str) -> float:
    raise _BadNumber  # NaN, Infinity and -Infinity are not JSON


def _depth(value: Any) -> int:
    """How deeply containers nest in `value` (iterative: no recursion limit to hit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(raw: str | bytes) -> Any:
    """Decode a request body, refusing deep nesting and huge numbers with a 400 (linear time)."""
    try:
        data = json.loads(raw, parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ApiError(
            400, f"the body is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:  # nested beyond the decoder's own limit
        raise ApiError(400, _TOO_DEEP) from None
    except _BadNumber:
        raise ApiError(
            400,
            f"the body has a number this API cannot take (more than {MAX_NUMBER_CHARS} "
            "characters, or not finite); counts are whole numbers below 2^63",
        ) from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise ApiError(400, _TOO_DEEP)
    return data


async def read_json(*, optional: bool = False) -> Any:
    """The decoded JSON body; an empty body is {} when `optional`, else a 400."""
    raw = await request.get_data(as_text=False)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "this endpoint needs a JSON body")
    if request.mimetype != "application/json":
        raise ApiError(415, "send the body as JSON with 'Content-Type: application/json'")
    return parse_json(raw)


async def load_body[M: BaseModel](model: type[M], *, optional: bool = False) -> M:
    """The JSON body validated against `model`; a 400 naming every bad field otherwise."""
    data = await read_json(optional=optional)
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ApiError(400, "the request body is not valid", validation_messages(err)) from None


def register_error_handlers(app: Quart) -> None:
    """Every failure becomes a JSON answer; bad input never surfaces as a 500."""

    @app.errorhandler(ApiError)
    async def _api_error(err: ApiError) -> Response:
        return json_error(err.status, err.message, err.details)

    @app.errorhandler(HTTPException)
    async def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        headers = dict(err.get_headers())
        headers.pop("Content-Type", None)
        messages = {
            404: "no such page or endpoint; the API lives under /api/v1/usage-stats/",
            405: f"{request.method} is not allowed here",
            413: "the request body is too large",
        }
        response = json_error(status, messages.get(status) or err.description or err.name)
        response.headers.update(headers)  # e.g. Allow on a 405 (RFC 9110)
        return response

    @app.errorhandler(Exception)
    async def _unexpected(err: Exception) -> Response:
        _LOGGER.exception("unexpected error in %s %s", request.method, request.path)
        return json_error(500, "internal error; the service log has the details")
