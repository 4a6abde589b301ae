"""Home Assistant ingress: trust only the Supervisor's proxy, serve under its prefix, sign in.

Home Assistant's ingress proxy (the Supervisor, 172.30.32.2 on a real installation) forwards
the sidebar panel's requests after Home Assistant has signed the user in, and says so with
`X-Ingress-Path` (the per-session prefix the browser sees, e.g. /api/hassio_ingress/<token>)
and `X-Remote-User-Id`. Those headers count only when the TCP peer is a configured proxy
address (`INGRESS_PROXY`); from anywhere else they are ignored, so they grant nothing.

A trusted request is served as if the app were mounted at the prefix (ASGI `root_path`), so
`url_for`, redirects and the session cookie's path all stay inside the prefix; the cookie has
its own name, so it never mixes with the published port's sign-in cookie.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from quart import Quart, has_request_context, request
from quart.sessions import SecureCookieSessionInterface

from ..auth import grant_session
from ..settings import Settings
from .session import require_csrf

PATH_HEADER = "X-Ingress-Path"
USER_ID_HEADER = "X-Remote-User-Id"
USER_NAME_HEADER = "X-Remote-User-Name"
USER_DISPLAY_NAME_HEADER = "X-Remote-User-Display-Name"
COOKIE_NAME = "aggregation_ingress_session"
# Where the trusted prefix is kept for the request (an ASGI scope key of this app's own).
SCOPE_KEY = "printernizer.ingress_path"
# Path segments of letters, digits, "_", "-", "~" and inner dots: nothing that could leave the
# prefix ("..", "//"), quote an attribute or split a header. Bounded, so checks stay linear.
_PREFIX = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,127}){1,8}")
_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _normalise(address: str) -> str | None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return parsed.compressed


def trusted_prefix(
    peer: str | None, headers: Iterable[tuple[bytes, bytes]], proxies: frozenset[str]
) -> str | None:
    """The ingress prefix when the peer is a trusted proxy that sent both headers, else None."""
    if peer is None or _normalise(peer) not in proxies:
        return None
    path = user_id = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"x-ingress-path":
            path = value.decode("latin-1")
        elif lowered == b"x-remote-user-id":
            user_id = value.decode("latin-1")
    if path is None or user_id is None:
        return None
    path = path.rstrip("/")
    if not _PREFIX.fullmatch(path) or not _USER_ID.fullmatch(user_id):
        return None
    return path


class IngressPrefix:
    """ASGI middleware: a trusted ingress request is served with the prefix as `root_path`."""

    def __init__(self, app: Any, proxies: Iterable[str]) -> None:
        self._app = app
        self._proxies = frozenset(filter(None, (_normalise(address) for address in proxies)))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._proxies:
            client = scope.get("client")
            prefix = trusted_prefix(client[0] if client else None, scope["headers"], self._proxies)
            if prefix is not None:
                # ASGI: `path` includes `root_path`; Quart strips it again for routing.
                scope = {
                    **scope,
                    "root_path": prefix,
                    "path": prefix + scope["path"],
                    "raw_path": prefix.encode() + (scope.get("raw_path") or scope["path"].encode()),
                    SCOPE_KEY: prefix,
                }
        await self._app(scope, receive, send)


def active() -> bool:
    """Whether the current request came through a trusted ingress proxy."""
    return has_request_context() and isinstance(request.scope.get(SCOPE_KEY), str)


def forwarded_https() -> bool:
    """Whether the browser reached Home Assistant over HTTPS (as its proxy reports it)."""
    proto = request.headers.get("X-Forwarded-Proto", "")
    return proto.split(",", 1)[0].strip().lower() == "https"


async def sign_in() -> None:
    """Admin rights for a trusted ingress request; a browser-sent write still needs CSRF."""
    await require_csrf()
    grant_session()


class DashboardCookieInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions; under ingress the cookie has its own name and the prefix path.

    The cookie is Secure whenever the browser used HTTPS (directly, through a trusted proxy, or
    to Home Assistant), so a plain-HTTP add-on port needs no "secure cookie" option.
    """

    def get_cookie_name(self, app: Quart) -> str:
        return COOKIE_NAME if active() else super().get_cookie_name(app)

    def get_cookie_path(self, app: Quart) -> str:
        return request.root_path if active() else super().get_cookie_path(app)

    def get_cookie_secure(self, app: Quart) -> bool:
        if active():  # the browser talks to Home Assistant, over HTTPS or not
            return forwarded_https()
        settings: Settings | None = app.config.get("SETTINGS")
        proxied_https = settings is not None and settings.trust_proxy and forwarded_https()
        return super().get_cookie_secure(app) or request.scheme == "https" or proxied_https


def install(app: Quart, settings: Settings) -> None:
    """Serve ingress requests under their prefix with their own session cookie."""
    app.session_interface = DashboardCookieInterface()
    if settings.ingress_proxy:
        app.asgi_app = IngressPrefix(app.asgi_app, settings.ingress_proxy)  # type: ignore[method-assign]
