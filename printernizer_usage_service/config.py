"""Service configuration: one dataclass, read once from the environment and CLI flags."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from printernizer_usage_core.models import UNKNOWN_VERSION, DeploymentMode, is_version
from printernizer_usage_core.submitter import EndpointError, normalise_endpoint

ENV_PREFIX = "PRINTERNIZER_USAGE_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_DATA_DIR = "./data"
DEFAULT_APP_VERSION = UNKNOWN_VERSION
DB_FILE_NAME = "usage.db"
MAX_BATCH = 500
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Environment variable for each setting (also listed by `printernizer-usage serve --help`).
ENV_NAMES: dict[str, str] = {
    "host": "PRINTERNIZER_USAGE_HOST",
    "port": "PRINTERNIZER_USAGE_PORT",
    "data_dir": "PRINTERNIZER_USAGE_DATA_DIR",
    "endpoint": "PRINTERNIZER_USAGE_ENDPOINT",
    "token": "PRINTERNIZER_USAGE_TOKEN",
    "app_version": "PRINTERNIZER_USAGE_APP_VERSION",
    "deployment_mode": "PRINTERNIZER_DEPLOYMENT_MODE",
    "log_level": "PRINTERNIZER_USAGE_LOG_LEVEL",
    "time_zone": "TZ",
}


class ConfigError(ValueError):
    """A setting has a value the service cannot use (the message says which and why)."""


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str) -> str:
    """The aggregation server URL, checked by the submitter's rule (https unless loopback)."""
    try:
        return str(normalise_endpoint(url))
    except EndpointError as err:
        raise ConfigError(f"endpoint: {err}") from None


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything the service needs to run; build it with `from_env()` and `with_overrides()`."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    endpoint: str | None = None
    token: str | None = None
    app_version: str = DEFAULT_APP_VERSION
    deployment_mode: DeploymentMode | None = None
    log_level: str = "INFO"
    time_zone: str | None = None
    # Start the weekly sender (tests and offline use may switch it off).
    submit: bool = True
    max_batch: int = MAX_BATCH
    environ: Mapping[str, str] | None = None

    @property
    def db_path(self) -> Path:
        """The SQLite file holding this installation's statistics."""
        return self.data_dir / DB_FILE_NAME

    @property
    def loopback_only(self) -> bool:
        """True when the service listens only on this machine."""
        return is_loopback(self.host)

    @property
    def token_required(self) -> bool:
        """Write endpoints need the token (always when one is set)."""
        return bool(self.token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        """Settings from environment variables, defaults for everything not set."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            key: env[name] for key, name in ENV_NAMES.items() if env.get(name, "").strip()
        }
        return cls().with_overrides(environ=environ, **values)

    def with_overrides(self, **values: Any) -> ServiceConfig:
        """A copy with the given (non-None) values parsed, checked and applied."""
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            clean[key] = _PARSERS[key](value) if key in _PARSERS else value
        config = replace(self, **clean)
        config.validate()
        return config

    def validate(self) -> None:
        """Refuse combinations that would be unsafe."""
        if not self.loopback_only and not self.token:
            raise ConfigError(
                f"listening on {self.host} (beyond this machine) needs a token: "
                f"pass --token or set {ENV_NAMES['token']}"
            )


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"port must be a number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535, got {port}")
    return port


def _mode(value: Any) -> DeploymentMode:
    try:
        return DeploymentMode(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in DeploymentMode)
        raise ConfigError(f"deployment mode must be one of {allowed}, got {value!r}") from None


def _level(value: Any) -> str:
    level = str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _token(value: Any) -> str | None:
    token = str(value).strip()
    if token and len(token) < 12:
        raise ConfigError("the token must be at least 12 characters long")
    return token or None


def _version(value: Any) -> str:
    # The wire model's rule (core.models.is_version): what starts here is what reports carry.
    text = str(value).strip()
    if not is_version(text):
        raise ConfigError(
            f"app version must be a release number such as 1.6.0 or 2.1.0rc1 "
            f"(or '{UNKNOWN_VERSION}'), got {value!r}"
        )
    return text


_PARSERS: dict[str, Any] = {
    "port": _port,
    "data_dir": lambda v: Path(v).expanduser(),
    "endpoint": check_endpoint_url,
    "token": _token,
    "app_version": _version,
    "deployment_mode": _mode,
    "log_level": _level,
    "host": lambda v: str(v).strip(),
    "max_batch": int,
}
