"""Paths of the add-on's files and small helpers shared by the add-on tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addon"
SERVICE_DIR = ADDON / "rootfs" / "etc" / "s6-overlay" / "s6-rc.d"
RUN_SCRIPT = SERVICE_DIR / "aggregation" / "run"
HEALTHCHECK = ADDON / "rootfs" / "usr" / "bin" / "aggregation-healthcheck"
STAND_IN_BASHIO = Path(__file__).resolve().parent / "bashio" / "bashio"
VENV_BIN = ROOT / ".venv" / "bin"


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file whose top level is a mapping."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: the top level must be a mapping"
    return data
