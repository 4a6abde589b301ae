"""Fixtures for the add-on tests: the parsed add-on files and helpers to run its scripts."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.addon.addon_paths import ADDON, load_yaml


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    """addon/config.yaml."""
    return load_yaml(ADDON / "config.yaml")


@pytest.fixture(scope="session")
def build() -> dict[str, Any]:
    """addon/build.yaml."""
    return load_yaml(ADDON / "build.yaml")


@pytest.fixture(scope="session")
def translations() -> dict[str, Any]:
    """addon/translations/en.yaml."""
    return load_yaml(ADDON / "translations" / "en.yaml")


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
