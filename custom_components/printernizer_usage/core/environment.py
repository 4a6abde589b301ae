"""Coarse facts about where Printernizer runs: versions, platform, deployment mode, country."""

from __future__ import annotations

import os
import platform as _platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .countries import UNKNOWN_COUNTRY, country_for_zone
from .models import DeploymentMode
from .registry import platform_name

DEPLOYMENT_MODE_VAR = "PRINTERNIZER_DEPLOYMENT_MODE"
DO_NOT_TRACK_VAR = "DO_NOT_TRACK"
KILL_SWITCH_VAR = "PRINTERNIZER_USAGE_DISABLED"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Environment:
    """What the payload says about the machine; nothing identifying."""

    app_version: str
    python_version: str
    platform: str
    deployment_mode: DeploymentMode
    country_code: str


def tracking_blocked(environ: Mapping[str, str] | None = None) -> bool:
    """True when DO_NOT_TRACK or the project's kill switch forbids sending anything."""
    env = os.environ if environ is None else environ
    return any(
        env.get(var, "").strip().lower() in _TRUE for var in (DO_NOT_TRACK_VAR, KILL_SWITCH_VAR)
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def detect_deployment_mode(
    environ: Mapping[str, str] | None = None, root: Path = Path("/")
) -> DeploymentMode:
    """HA add-on, Docker, Raspberry Pi or standalone; the override variable wins."""
    env = os.environ if environ is None else environ
    override = env.get(DEPLOYMENT_MODE_VAR, "").strip().lower()
    if override in set(DeploymentMode):
        return DeploymentMode(override)
    if env.get("SUPERVISOR_TOKEN") or env.get("HASSIO_TOKEN"):
        return DeploymentMode.HOMEASSISTANT
    if (root / ".dockerenv").exists() or re.search(
        r"docker|containerd|kubepods|libpod", _read(root / "proc/1/cgroup")
    ):
        return DeploymentMode.DOCKER
    # Only the board family is read; the model string and serial never leave this function.
    if "raspberry pi" in _read(root / "proc/device-tree/model").lower():
        return DeploymentMode.PI
    return DeploymentMode.STANDALONE


def detect_time_zone(
    environ: Mapping[str, str] | None = None, root: Path = Path("/")
) -> str | None:
    """The IANA zone name from TZ, /etc/timezone or the /etc/localtime link."""
    env = os.environ if environ is None else environ
    if env.get("TZ"):
        return env["TZ"]
    name = _read(root / "etc/timezone").strip()
    if name:
        return name
    localtime = root / "etc/localtime"
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return None


def _python_version() -> str:
    info = _platform.python_version_tuple()
    return ".".join(info[:3])


def detect_environment(
    app_version: str,
    *,
    deployment_mode: DeploymentMode | None = None,
    time_zone: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Read the environment once (blocking file reads: call it off the event loop)."""
    zone = time_zone if time_zone is not None else detect_time_zone(environ)
    return Environment(
        app_version=app_version,
        python_version=_python_version(),
        platform=platform_name(_platform.system()),
        deployment_mode=deployment_mode or detect_deployment_mode(environ),
        country_code=country_for_zone(zone) if zone else UNKNOWN_COUNTRY,
    )
