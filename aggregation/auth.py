"""Admin authorisation: API key (Bearer or X-API-Key, constant-time) or a dashboard session."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from quart import current_app, request, session

from .errors import ApiError
from .settings import Settings


def presented_key() -> str | None:
    """The admin key the request carries, if any."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    key = request.headers.get("X-API-Key")
    return key.strip() if key is not None else None


def key_matches(candidate: str, expected: str) -> bool:
    """Constant-time comparison (never short-circuits on the first differing byte)."""
    return bool(expected) and hmac.compare_digest(candidate.encode(), expected.encode())


def is_admin() -> bool:
    """Whether the current request is authorised as the maintainer."""
    settings: Settings = current_app.config["SETTINGS"]
    if not settings.admin_enabled:
        return False
    if session.get("admin") is True:
        return True
    key = presented_key()
    return key is not None and key_matches(key, settings.api_key)


def check_admin() -> None:
    """Raise the right ApiError unless the request is an admin's: 503, 401 or 403."""
    settings: Settings = current_app.config["SETTINGS"]
    if not settings.admin_enabled:
        raise ApiError(503, "admin API disabled: set API_KEY", reason="admin_disabled")
    if session.get("admin") is True:
        return
    key = presented_key()
    challenge = {"WWW-Authenticate": 'Bearer realm="printernizer-aggregation"'}
    if key is None:
        raise ApiError(
            401,
            "admin key required: send 'Authorization: Bearer <API_KEY>' or 'X-API-Key'",
            headers=challenge,
            reason="unauthorized",
        )
    if not key_matches(key, settings.api_key):
        # 401, not 403: wrong credentials are no credentials (RFC 9110 15.5.2; the contract).
        raise ApiError(401, "wrong admin key", headers=challenge, reason="forbidden")


def require_admin[**P, R](view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator for admin-only views."""

    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        check_admin()
        return await view(*args, **kwargs)

    return wrapper


# The name the dashboard uses.
is_admin_request = is_admin

__all__ = [
    "check_admin",
    "is_admin",
    "is_admin_request",
    "key_matches",
    "presented_key",
    "require_admin",
]
