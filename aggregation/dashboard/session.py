"""Admin session for the dashboard: server-side session records, CSRF tokens, cookie settings.

The signed cookie carries only a random session id and the CSRF token. The id counts only while
its record (its sha256) is in the shared database: logging out deletes it, so a cookie copied
before the logout opens nothing afterwards, in any server process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from quart import Quart, request, session

from ..auth import grant_session
from ..errors import ApiError
from ..storage.base import Repository
from ..storage.signin import create_session, end_session, session_alive

# A failed login waits this long: a cheap brake on guessing the key through the form.
FAILED_LOGIN_DELAY_S = 0.3
# A session ends this long after sign-in at the latest (in the database and in the cookie).
SESSION_LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def configure_cookie(app: Quart) -> None:
    """Session cookie: http-only, SameSite=Strict, Secure per settings, valid for 12 hours."""
    conf = app.config.get("SETTINGS")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    if conf is not None:
        app.config["SESSION_COOKIE_SECURE"] = bool(getattr(conf, "session_cookie_secure", True))
        if not app.secret_key and getattr(conf, "secret_key", None):
            app.secret_key = conf.secret_key


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid(submitted: str | None) -> bool:
    """Whether a form's token matches the session's (constant-time)."""
    expected = session.get("csrf")
    if not isinstance(expected, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def _record_key(session_id: str) -> str:
    """What the database keeps of a session id: its sha256 (the id itself is in the cookie)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


async def log_in(repository: Repository) -> None:
    """Start a fresh admin session: a new id recorded server-side and a new CSRF token."""
    session_id = secrets.token_urlsafe(32)
    now = int(time.time())
    expires = now + int(SESSION_LIFETIME.total_seconds())
    await create_session(repository, _record_key(session_id), expires_at=expires, now=now)
    session.clear()
    session["sid"] = session_id
    session["csrf"] = secrets.token_urlsafe(32)
    # A browser-session cookie: closing the browser ends the admin session too.
    session.permanent = False


async def log_out(repository: Repository) -> None:
    """End the session for every server process, then forget the cookie's contents."""
    session_id = session.get("sid")
    if isinstance(session_id, str):
        await end_session(repository, _record_key(session_id))
    session.clear()


async def _csrf_presented() -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    if request.mimetype in _FORMS:
        value = (await request.form).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def carries_session() -> bool:
    """Whether the request's cookie names a session (alive or not: `authenticate` decides)."""
    return isinstance(session.get("sid"), str)


async def authenticate(repository: Repository) -> None:
    """Before each request: grant admin rights to a live session, CSRF-checked when it writes.

    A cookie whose session was ended or has expired is cleared. A state-changing request
    (anything but GET/HEAD/OPTIONS) that rides on a live session must carry the session's
    CSRF token (form field `csrf_token` or header `X-CSRF-Token`), or it is refused with 403:
    another site can make the browser send the cookie, never the token.
    """
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return
    if not await session_alive(repository, _record_key(session_id), now=int(time.time())):
        session.clear()
        return
    await require_csrf()
    grant_session()


async def require_csrf() -> None:
    """Refuse (403) a state-changing request without the session's CSRF token.

    Call it before granting rights that the browser sends by itself (a cookie, or a sign-in
    done by a proxy in front of the server), never for an API key the caller presents.
    """
    if request.method not in SAFE_METHODS and not csrf_valid(await _csrf_presented()):
        raise ApiError(
            403,
            "this request uses the dashboard session but carries no valid CSRF token: send the "
            f"page's token as '{CSRF_FIELD}' or the {CSRF_HEADER} header, or use the API key",
            reason="csrf",
        )
