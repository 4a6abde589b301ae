"""Admin authorisation: API key (Bearer or X-API-Key, constant-time) or a dashboard session.

A session counts only after the dashboard's request check (dashboard/session.py) found its
server-side record alive and, for a state-changing request, its CSRF token (or, for Home
Assistant's ingress proxy, dashboard/ingress.py trusted the request): that check calls
`grant_session`. A request that presents a key is judged by the key alone, under the same
sign-in throttle as the dashboard's form (dashboard/throttle.py): a wrong key counts as an
attempt, and while the client's or everyone's budget is spent every key is refused with 429,
the right one too, so that the answer never tells which guess was right.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING

from quart import current_app, g, request

from .errors import ApiError
from .settings import Settings

if TYPE_CHECKING:  # the dashboard package imports this module: no import cycle at run time
    from .dashboard.throttle import LoginThrottle

# The app's one sign-in throttle (created with the dashboard blueprint, limits from Settings).
THROTTLE = "LOGIN_THROTTLE"


def login_throttle() -> LoginThrottle:
    """The app's sign-in throttle (its counters are in the database)."""
    value: LoginThrottle = current_app.config[THROTTLE]
    return value


def presented_key() -> str | None:
    """The admin key the request carries, if any."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    key = request.headers.get("X-API-Key")
    return key.strip() if key is not None else None


def grant_session() -> None:
    """Mark the current request as carried by a live, CSRF-checked admin session."""
    g.admin_session = True


def session_granted() -> bool:
    """Whether `grant_session` ran for the current request."""
    return g.get("admin_session", False) is True


def key_matches(candidate: str, expected: str) -> bool:
    """Constant-time comparison (never short-circuits on the first differing byte)."""
    return bool(expected) and hmac.compare_digest(candidate.encode(), expected.encode())


async def _key_is_right(key: str, settings: Settings) -> bool:
    """Judge a presented key once per request: count a wrong one; 429 while throttled.

    A right key is only checked against the counters (a read), never counted: scripts that
    use the key all day spend nothing. A throttled client is answered from that read.
    """
    judged: bool | None = g.get("admin_key_right")
    if judged is not None:
        return judged
    # Imported here: blueprints.common imports intake, which imports this module.
    from .blueprints import common

    right = key_matches(key, settings.api_key)
    throttle, address, now = login_throttle(), common.client_address(), time.time()
    if right:
        work = throttle.check(common.repository(), address, now, via="header")
    else:
        work = throttle.attempt(common.repository(), address, now, via="header")
    throttled = await common.guard_storage(work, "auth")
    if throttled is not None:
        raise ApiError(
            429,
            f"{throttled.message} Wrong admin keys count as sign-in attempts.",
            headers={"Retry-After": str(throttled.retry_after)},
            reason="throttled",
        )
    g.admin_key_right = right
    return right


async def is_admin() -> bool:
    """Whether the current request is authorised as the maintainer (429 while throttled)."""
    settings: Settings = current_app.config["SETTINGS"]
    key = presented_key()
    if key is None:
        # Granted sessions need no API_KEY: Home Assistant's ingress signs in without one.
        return session_granted()
    return settings.admin_enabled and await _key_is_right(key, settings)


async def check_admin() -> None:
    """Raise the right ApiError unless the request is an admin's: 503, 401, 403 or 429."""
    settings: Settings = current_app.config["SETTINGS"]
    key = presented_key()
    if key is None and session_granted():
        return
    if not settings.admin_enabled:
        raise ApiError(503, "admin API disabled: set API_KEY", reason="admin_disabled")
    challenge = {"WWW-Authenticate": 'Bearer realm="printernizer-aggregation"'}
    if key is None:
        raise ApiError(
            401,
            "admin key required: send 'Authorization: Bearer <API_KEY>' or 'X-API-Key'",
            headers=challenge,
            reason="unauthorized",
        )
    if not await _key_is_right(key, settings):
        # 401, not 403: wrong credentials are no credentials (RFC 9110 15.5.2; the contract).
        raise ApiError(401, "wrong admin key", headers=challenge, reason="forbidden")


def require_admin[**P, R](view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator for admin-only views."""

    @wraps(view)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        await check_admin()
        return await view(*args, **kwargs)

    return wrapper


# The name the dashboard uses.
is_admin_request = is_admin

__all__ = [
    "THROTTLE",
    "check_admin",
    "grant_session",
    "is_admin",
    "is_admin_request",
    "key_matches",
    "login_throttle",
    "presented_key",
    "require_admin",
    "session_granted",
]
