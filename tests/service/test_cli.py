"""The command line: --help, config errors, env + flags, and a real `serve` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from printernizer_usage_core.models import UNKNOWN_VERSION, DeploymentMode

from printernizer_usage_service.cli import build_parser, config_from_args, main
from printernizer_usage_service.config import ENV_NAMES, ConfigError, ServiceConfig
from printernizer_usage_service.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "printernizer_usage_service", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_help_explains_flags_and_variables() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    for word in (
        "--host",
        "--port",
        "--data-dir",
        "--endpoint",
        "--token",
        "--app-version",
        "--deployment-mode",
        "--log-level",
        "PRINTERNIZER_USAGE_DATA_DIR",
        "PRINTERNIZER_USAGE_TOKEN",
        "DO_NOT_TRACK",
        "TZ ",
        "127.0.0.1",
        "8765",
    ):
        assert word in result.stdout, word
    # Every variable the service reads is listed (the config's and the core's).
    for name in ENV_NAMES.values():
        assert name in result.stdout, name


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "serve" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--host", "0.0.0.0"], "needs a token"),
        (["--endpoint", "http://example.org"], "https"),
        (["--port", "99999"], "port"),
        (["--token", "short"], "at least 12"),
        # One version rule for the CLI, the wire model and the privacy guard.
        (["--app-version", "banana"], "app version must be a release number"),
        (["--app-version", "192.168.1.23"], "app version"),
    ],
)
def test_bad_configuration_exits_2_with_a_message(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRINTERNIZER_USAGE_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *args])
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PRINTERNIZER_USAGE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("PRINTERNIZER_USAGE_PORT", "9000")
    monkeypatch.setenv("PRINTERNIZER_DEPLOYMENT_MODE", "pi")
    monkeypatch.setenv("PRINTERNIZER_USAGE_LOG_LEVEL", "debug")
    args = build_parser().parse_args(["serve", "--port", "9100", "--app-version", "1.6.0"])
    config = config_from_args(args)
    assert config.port == 9100
    assert config.data_dir == tmp_path / "env"
    assert config.deployment_mode is DeploymentMode.PI
    assert config.log_level == "DEBUG"
    assert config.app_version == "1.6.0"
    assert config.db_path == tmp_path / "env" / "usage.db"


def test_config_from_env_defaults_and_errors() -> None:
    config = ServiceConfig.from_env({})
    assert (config.host, config.port, str(config.data_dir)) == ("127.0.0.1", 8765, "data")
    assert config.app_version == UNKNOWN_VERSION
    assert ServiceConfig.from_env({"PRINTERNIZER_USAGE_APP_VERSION": "2.1.0rc1"}).app_version
    assert config.loopback_only and not config.token_required
    for env, words in [
        ({"PRINTERNIZER_USAGE_PORT": "eighty"}, "port"),
        ({"PRINTERNIZER_DEPLOYMENT_MODE": "mainframe"}, "deployment mode"),
        ({"PRINTERNIZER_USAGE_LOG_LEVEL": "LOUD"}, "log level"),
        ({"PRINTERNIZER_USAGE_APP_VERSION": "v 1"}, "app version"),
        ({"PRINTERNIZER_USAGE_APP_VERSION": "banana"}, "app version"),
        ({"PRINTERNIZER_USAGE_ENDPOINT": "ftp://x.org"}, "endpoint"),
    ]:
        with pytest.raises(ConfigError, match=words):
            ServiceConfig.from_env(env)
    ok = ServiceConfig.from_env(
        {
            "PRINTERNIZER_USAGE_ENDPOINT": "https://stats.example.org/",
            "PRINTERNIZER_USAGE_HOST": "::1",
        }
    )
    assert ok.endpoint == "https://stats.example.org"
    assert ok.loopback_only


def test_serve_process_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`python -m printernizer_usage_service serve` from the repository root, as documented,
    also where the project is not installed (-S: site-packages without the editable install's
    path hook); --access-log logs requests without the client's address."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-S",
            "-m",
            "printernizer_usage_service",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--no-submit",
            "--log-level",
            "warning",
            "--access-log",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/usage-stats/fleet", timeout=10
        ) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, output
        assert (tmp_path / "data" / "usage.db").exists()
        # Each request once (hypercorn's own handlers used to print every line twice).
        lines = [line for line in output.splitlines() if "/usage-stats/fleet" in line]
        assert len(lines) == 1, output
        assert '"GET /api/v1/usage-stats/fleet 1.1" 200' in lines[0]
        assert "127.0.0.1" not in lines[0] and "Python-urllib" not in lines[0], lines[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
