"""Admin session for the dashboard: API-key login, CSRF tokens and the session cookie settings."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from quart import Quart, session

# A failed login waits this long: a cheap brake on guessing the key through the form.
FAILED_LOGIN_DELAY_S = 0.3
# A signed session cookie older than this is refused (the signature carries its age).
SESSION_LIFETIME = timedelta(hours=12)


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


def log_in() -> None:
    """Start a fresh admin session (a new CSRF token too, so a pre-login token is not reused)."""
    session.clear()
    session["admin"] = True
    session["csrf"] = secrets.token_urlsafe(32)
    # A browser-session cookie: closing the browser ends the admin session.
    session.permanent = False


def log_out() -> None:
    """Forget everything in the session."""
    session.clear()
