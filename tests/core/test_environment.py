"""Environment facts: deployment mode, time zone → country, and the tracking veto."""

from __future__ import annotations

from pathlib import Path

import pytest
from printernizer_usage_core.countries import COUNTRY_CODES, country_for_zone, zone_countries
from printernizer_usage_core.environment import (
    detect_deployment_mode,
    detect_environment,
    detect_time_zone,
    tracking_blocked,
)
from printernizer_usage_core.models import DeploymentMode


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("Europe/Berlin", "DE"),
        ("America/New_York", "US"),
        ("Pacific/Auckland", "NZ"),
        ("Africa/Nairobi", "KE"),
        ("US/Pacific", "US"),  # a backward link, resolved by its rules
        ("Asia/Calcutta", "IN"),
        ("UTC", "XX"),
        ("Etc/GMT+3", "XX"),
        ("", "XX"),
        (None, "XX"),
        ("Mars/Olympus", "XX"),
        ("../../etc/passwd", "XX"),
        (":Europe/Paris", "FR"),
    ],
)
def test_country_from_time_zone(zone, country) -> None:
    assert country_for_zone(zone) == country


def test_every_country_of_the_zone_table_is_known() -> None:
    assert len(COUNTRY_CODES) >= 240
    assert set(zone_countries().values()) <= COUNTRY_CODES
    assert {"DE", "US", "JP", "BR", "ZA", "AQ"} <= COUNTRY_CODES


def test_deployment_mode_detection(tmp_path: Path) -> None:
    assert detect_deployment_mode({}, tmp_path) is DeploymentMode.STANDALONE
    assert (
        detect_deployment_mode({"PRINTERNIZER_DEPLOYMENT_MODE": "Pi"}, tmp_path)
        is DeploymentMode.PI
    )
    assert (
        detect_deployment_mode({"PRINTERNIZER_DEPLOYMENT_MODE": "bogus"}, tmp_path)
        is DeploymentMode.STANDALONE
    )
    assert (
        detect_deployment_mode({"SUPERVISOR_TOKEN": "x"}, tmp_path) is DeploymentMode.HOMEASSISTANT
    )
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_text("Raspberry Pi 5 Model B Rev 1.0\x00")
    assert detect_deployment_mode({}, tmp_path) is DeploymentMode.PI
    (tmp_path / "proc/1").mkdir(parents=True)
    (tmp_path / "proc/1/cgroup").write_text("0::/system.slice/containerd.service\n")
    assert detect_deployment_mode({}, tmp_path) is DeploymentMode.DOCKER


def test_time_zone_detection(tmp_path: Path) -> None:
    assert detect_time_zone({"TZ": "Europe/Rome"}, tmp_path) == "Europe/Rome"
    assert detect_time_zone({}, tmp_path) is None
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/localtime").symlink_to("/usr/share/zoneinfo/Asia/Tokyo")
    assert detect_time_zone({}, tmp_path) == "Asia/Tokyo"
    (tmp_path / "etc/timezone").write_text("Europe/Oslo\n")
    assert detect_time_zone({}, tmp_path) == "Europe/Oslo"


def test_tracking_veto() -> None:
    assert tracking_blocked({"DO_NOT_TRACK": "1"})
    assert tracking_blocked({"PRINTERNIZER_USAGE_DISABLED": "yes"})
    assert not tracking_blocked({"DO_NOT_TRACK": "0"})
    assert not tracking_blocked({})


def test_detect_environment_is_coarse() -> None:
    env = detect_environment(
        "2.4.0", time_zone="Europe/Vienna", environ={"PRINTERNIZER_DEPLOYMENT_MODE": "docker"}
    )
    assert env.country_code == "AT"
    assert env.deployment_mode is DeploymentMode.DOCKER
    assert env.platform.isidentifier()
    assert env.python_version.count(".") == 2
