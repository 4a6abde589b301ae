"""Request guards: the token for writes and identity reads, same-origin writes, loopback Hosts."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from quart import request

from .config import ServiceConfig, is_loopback
from .errors import ApiError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_HEADER = "X-Printernizer-Token"  # noqa: S105 - a header name, not a secret
# Reads that show the installation's identity (its id, the deletion secret or its hash) are
# guarded like writes: whoever holds the id could otherwise act as this installation.
IDENTITY_READS = frozenset(
    f"/api/v1/usage-stats/{name}" for name in ("export", "preview", "settings", "local")
)


def presented_token() -> str | None:
    """The token from 'Authorization: Bearer ...' or the X-Printernizer-Token header."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get(TOKEN_HEADER)


def check_host(config: ServiceConfig) -> None:
    """On loopback, refuse other Host names: stops DNS-rebinding pages from reaching the API."""
    if not config.loopback_only:
        return
    host = urlsplit(f"//{request.host}").hostname or ""
    if not is_loopback(host):
        raise ApiError(421, "this service only answers to 127.0.0.1 / localhost")


def check_access(config: ServiceConfig) -> None:
    """Writes and identity reads need the token (when set); writes must not come from another
    site's page."""
    needs_token = request.method in WRITE_METHODS or request.path in IDENTITY_READS
    if not needs_token:
        return
    if request.method in WRITE_METHODS:
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            raise ApiError(403, "cross-site requests are refused; call the API directly")
    if config.token:
        token = presented_token()
        if not token or not hmac.compare_digest(token.encode(), config.token.encode()):
            raise ApiError(
                401,
                "this endpoint needs the service token: send 'Authorization: Bearer <token>'",
            )
