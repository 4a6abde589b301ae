"""JSON responses built directly (bypassing quart-schema's per-call TypeAdapter conversion)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quart import Response


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """`data` as compact JSON; a plain dict return would cost ~1 ms of schema conversion."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return Response(
        body, status=status, headers=dict(headers or {}), content_type="application/json"
    )
