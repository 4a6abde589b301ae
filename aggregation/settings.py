"""Server configuration, read once from the environment into a frozen Settings object."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

REPORT_SCHEDULES = ("off", "weekly", "monthly", "both")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """An environment variable has a value the server cannot use (the message names it)."""


def _derive_secret(api_key: str) -> str:
    """Session signing key derived from API_KEY, so every process behind one key agrees."""
    if not api_key:
        # No admin key means no admin sessions; a random key keeps cookies unforgeable.
        return secrets.token_hex(32)
    return hmac.new(
        api_key.encode(), b"printernizer-aggregation/session", hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the aggregation server; see docs/AGGREGATION.md for each variable."""

    database_url: str = "sqlite:///./data/aggregation.db"
    api_key: str = ""
    submit_key: str = ""
    rate_limit_per_hour: int = 10
    # Per client address, in memory only; 0 disables it (tests, benchmarks, trusted networks).
    address_rate_limit_per_minute: int = 120
    trust_proxy: bool = False
    # Tries of the admin key (the dashboard's form, or a wrong key in a header) per client
    # network and for all clients together per fixed window (aggregation/dashboard/throttle.py).
    admin_attempts_per_client: int = 10
    admin_attempts_total: int = 100
    admin_attempts_window_seconds: int = 15 * 60
    log_level: str = "INFO"
    host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface
    port: int = 8080
    allowed_origins: tuple[str, ...] = ()
    retention_days: int = 730
    purge_interval_seconds: int = 3600
    k_anonymity: int = 5
    max_body_bytes: int = 16384
    # The longest a request body may take to arrive once its headers are in (408 after it).
    body_timeout_seconds: int = 30
    secret_key: str = field(default="", repr=False)
    session_cookie_secure: bool = True
    reports_dir: str = "./data/reports"
    report_schedule: str = "weekly"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = ""
    report_email_to: str = ""
    # Alerts for new critical anomalies (aggregation/alerts.py): e-mail and/or a webhook.
    alerts_enabled: bool = True
    alert_email_to: str = ""
    # A Home Assistant webhook URL is a secret (its id is the only credential): never logged.
    alert_webhook_url: str = field(default="", repr=False)
    alert_check_seconds: int = 3600
    public_page: bool = False
    demo_data: bool = False
    # Addresses of Home Assistant's ingress proxy (the add-on sets 172.30.32.2); requests from
    # them with the ingress headers are signed in as admin. Empty: no ingress (plain servers).
    ingress_proxy: tuple[str, ...] = ()
    # Group commit: the most submissions one transaction writes.
    max_batch: int = 200
    # Server processes; more than 1 runs hypercorn's multi-process mode on aggregation.asgi:app.
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.secret_key:
            object.__setattr__(self, "secret_key", _derive_secret(self.api_key))

    @property
    def admin_enabled(self) -> bool:
        """Whether the admin API is usable at all (an API key is configured)."""
        return bool(self.api_key)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests and tools)."""
        if "api_key" in changes and "secret_key" not in changes:
            changes["secret_key"] = ""
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment; a bad value raises SettingsError naming it."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        settings = cls(
            database_url=reader.database_url("sqlite:///./data/aggregation.db"),
            api_key=reader.text("API_KEY", ""),
            submit_key=reader.text("SUBMIT_KEY", ""),
            rate_limit_per_hour=reader.integer("RATE_LIMIT_PER_HOUR", 10, minimum=1),
            address_rate_limit_per_minute=reader.integer(
                "ADDRESS_RATE_LIMIT_PER_MINUTE", 120, minimum=0
            ),
            trust_proxy=reader.boolean("TRUST_PROXY", False),
            admin_attempts_per_client=reader.integer(
                "ADMIN_ATTEMPTS_PER_CLIENT", 10, minimum=1, maximum=1_000_000
            ),
            admin_attempts_total=reader.integer(
                "ADMIN_ATTEMPTS_TOTAL", 100, minimum=1, maximum=1_000_000
            ),
            admin_attempts_window_seconds=reader.integer(
                "ADMIN_ATTEMPTS_WINDOW_SECONDS", 15 * 60, minimum=60, maximum=86400
            ),
            log_level=reader.choice("LOG_LEVEL", "INFO", _LEVELS, upper=True),
            host=reader.text("HOST", "0.0.0.0"),  # noqa: S104
            port=reader.integer("PORT", 8080, minimum=1, maximum=65535),
            allowed_origins=reader.csv("ALLOWED_ORIGINS"),
            retention_days=reader.integer("RETENTION_DAYS", 730, minimum=1, maximum=36500),
            purge_interval_seconds=reader.integer(
                "PURGE_INTERVAL_SECONDS", 3600, minimum=1, maximum=7 * 86400
            ),
            k_anonymity=reader.integer("K_ANONYMITY", 5, minimum=1, maximum=1000),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", 16384, minimum=1024, maximum=1 << 24),
            body_timeout_seconds=reader.integer(
                "BODY_TIMEOUT_SECONDS", 30, minimum=1, maximum=3600
            ),
            secret_key=reader.text("SECRET_KEY", ""),
            session_cookie_secure=reader.boolean("SESSION_COOKIE_SECURE", True),
            reports_dir=reader.text("REPORTS_DIR", "./data/reports"),
            report_schedule=reader.choice("REPORT_SCHEDULE", "weekly", REPORT_SCHEDULES),
            smtp_host=reader.text("SMTP_HOST", ""),
            smtp_port=reader.integer("SMTP_PORT", 587, minimum=1, maximum=65535),
            smtp_user=reader.text("SMTP_USER", ""),
            smtp_password=reader.text("SMTP_PASSWORD", ""),
            smtp_from=reader.text("SMTP_FROM", ""),
            report_email_to=reader.text("REPORT_EMAIL_TO", ""),
            alerts_enabled=reader.boolean("ALERTS", True),
            alert_email_to=reader.text("ALERT_EMAIL_TO", ""),
            alert_webhook_url=reader.url("ALERT_WEBHOOK_URL"),
            alert_check_seconds=reader.integer(
                "ALERT_CHECK_SECONDS", 3600, minimum=10, maximum=7 * 86400
            ),
            public_page=reader.boolean("PUBLIC_PAGE", False),
            demo_data=reader.boolean("DEMO_DATA", False),
            ingress_proxy=reader.addresses("INGRESS_PROXY"),
            max_batch=reader.integer("MAX_BATCH", 200, minimum=1, maximum=1000),
            workers=reader.integer("WORKERS", 1, minimum=1, maximum=64),
        )
        logging.getLogger(__name__).debug("settings loaded: %r", settings)
        return settings


class _Reader:
    """Typed access to environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, default).strip()

    def integer(self, name: str, default: int, *, minimum: int, maximum: int = 10**9) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._env.get(name)
        if raw is None or not raw.strip():
            return default
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...], upper: bool = False) -> str:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self._env.get(name, "")
        return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())

    def addresses(self, name: str) -> tuple[str, ...]:
        """Comma-separated IP addresses, normalised (a host name or a network is refused)."""
        parsed = []
        for part in self.csv(name):
            try:
                parsed.append(ipaddress.ip_address(part).compressed)
            except ValueError:
                raise SettingsError(
                    f"{name} must be comma-separated IP addresses, got {part!r}"
                ) from None
        return tuple(parsed)

    def url(self, name: str) -> str:
        """An http(s) URL, or '' when unset."""
        raw = self._env.get(name, "").strip()
        if not raw:
            return ""
        parts = urlsplit(raw)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            # The value is not repeated: a webhook URL carries its secret (the webhook id).
            raise SettingsError(f"{name} must be an http:// or https:// URL")
        return raw

    def database_url(self, default: str) -> str:
        raw = self._env.get("DATABASE_URL", "").strip() or default
        if not raw.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise SettingsError(
                "DATABASE_URL must start with sqlite:/// or postgresql://, "
                f"got a value starting with {raw.split(':', 1)[0]!r}"
            )
        return raw
