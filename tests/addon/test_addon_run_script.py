"""The s6 run script, started with a stand-in bashio, configures and starts the real server.

`tests/addon/bashio/` answers `bashio::config` from a JSON options file like the
Supervisor's /data/options.json. The script's `exec python3 -m aggregation` runs the real
server because PATH starts with the project's .venv/bin.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from aggregation.settings import Settings
from tests.addon.addon_paths import HEALTHCHECK, RUN_SCRIPT, SERVICE_DIR, STAND_IN_BASHIO, VENV_BIN

# Each option and the environment variable the server reads for it.
OPTION_ENV = {
    "api_key": "API_KEY",
    "submit_key": "SUBMIT_KEY",
    "database_url": "DATABASE_URL",
    "rate_limit_per_hour": "RATE_LIMIT_PER_HOUR",
    "retention_days": "RETENTION_DAYS",
    "k_anonymity": "K_ANONYMITY",
    "log_level": "LOG_LEVEL",
    "allowed_origins": "ALLOWED_ORIGINS",
    "public_page": "PUBLIC_PAGE",
    "max_body_bytes": "MAX_BODY_BYTES",
    "trust_proxy": "TRUST_PROXY",
    "report_schedule": "REPORT_SCHEDULE",
    "report_email_to": "REPORT_EMAIL_TO",
    "smtp_host": "SMTP_HOST",
    "smtp_port": "SMTP_PORT",
    "smtp_user": "SMTP_USER",
    "smtp_password": "SMTP_PASSWORD",
    "smtp_from": "SMTP_FROM",
    "alerts": "ALERTS",
    "alert_email_to": "ALERT_EMAIL_TO",
    "alert_webhook_url": "ALERT_WEBHOOK_URL",
    "alert_check_seconds": "ALERT_CHECK_SECONDS",
    "demo_data": "DEMO_DATA",
}
STARTUP_TIMEOUT_S = 30.0


def every_option(tmp_path: Path) -> dict[str, Any]:
    """A value for every option, each different from the server's default."""
    return {
        "api_key": "admin-key-0123456789abcdef",
        "submit_key": "submit-key-fedcba9876543210",
        "database_url": f"sqlite:///{tmp_path}/custom.db",
        "rate_limit_per_hour": 7,
        "retention_days": 30,
        "k_anonymity": 3,
        "log_level": "warning",
        "allowed_origins": "https://a.example.org, https://b.example.org",
        "public_page": True,
        "max_body_bytes": 20000,
        "trust_proxy": True,
        "report_schedule": "monthly",
        "report_email_to": "maintainer@example.org,second@example.org",
        "smtp_host": "smtp.example.org",
        "smtp_port": 2525,
        "smtp_user": "mailer",
        "smtp_password": "mail-password",
        "smtp_from": "stats@example.org",
        "alerts": False,
        "alert_email_to": "oncall@example.org",
        "alert_webhook_url": "http://homeassistant.local:8123/api/webhook/printernizer-alerts",
        "alert_check_seconds": 600,
        "demo_data": False,
    }


def as_env(value: Any) -> str:
    """How bashio prints an option value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def script_env(
    options_file: Path, data_dir: Path, port: int, ingress_proxy: str | None = None
) -> dict[str, str]:
    """A clean environment like the container's, plus the test knobs of the run script."""
    knobs = {"ADDON_INGRESS_PROXY": ingress_proxy} if ingress_proxy else {}
    return {
        **knobs,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(data_dir),
        "LANG": "C.UTF-8",
        "BASHIO_OPTIONS": str(options_file),
        "ADDON_DATA_DIR": str(data_dir),
        "ADDON_HOST": "127.0.0.1",
        "ADDON_PORT": str(port),
        # A stray key in the container must not survive (the script unsets it).
        "SECRET_KEY": "stale",
    }


def health(port: int) -> int | None:
    """The status of GET /health, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return int(response.status)
    except OSError:
        return None


@contextmanager
def running_addon(
    options: dict[str, Any], tmp_path: Path, port: int, ingress_proxy: str | None = None
) -> Iterator[int]:
    """Run the service script like s6 would and yield the server's pid once /health is 200."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    options_file = tmp_path / "options.json"
    options_file.write_text(json.dumps(options), encoding="utf-8")
    log = (tmp_path / "addon.log").open("w+b")
    process = subprocess.Popen(
        [str(STAND_IN_BASHIO), str(RUN_SCRIPT)],
        env=script_env(options_file, data_dir, port, ingress_proxy),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while health(port) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")
                pytest.fail(f"server did not become healthy:\n{output}")
            time.sleep(0.1)
        yield process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def run_healthcheck(port: int) -> int:
    """Exit status of the image's Docker health check against the given port."""
    url = f"http://127.0.0.1:{port}/health"
    command = [sys.executable, str(HEALTHCHECK), url]
    return subprocess.run(command, check=False, capture_output=True).returncode


def process_env(pid: int) -> dict[str, str]:
    """The environment of a running process (the script execs the server: same pid)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def test_the_mapping_covers_every_option(config: dict[str, Any]) -> None:
    assert set(OPTION_ENV) == set(config["schema"])


def test_every_option_reaches_the_server(
    config: dict[str, Any], tmp_path: Path, free_port: int
) -> None:
    options = every_option(tmp_path)
    assert set(options) == set(config["schema"])
    with running_addon(options, tmp_path, free_port) as pid:
        env = process_env(pid)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"aggregation"], "the script execs the server itself"
    for option, variable in OPTION_ENV.items():
        assert env.get(variable) == as_env(options[option]), f"{option} -> {variable}"
    assert env["HOST"] == "127.0.0.1"
    assert env["PORT"] == str(free_port)
    assert env["REPORTS_DIR"] == str(tmp_path / "data" / "reports")
    assert "SECRET_KEY" not in env
    assert (tmp_path / "custom.db").exists(), "the server opened the configured database"

    # The server's own settings reader understands every variable as intended.
    settings = Settings.from_env(env)
    assert settings.api_key == options["api_key"]
    assert settings.submit_key == options["submit_key"]
    assert settings.database_url == options["database_url"]
    assert settings.rate_limit_per_hour == 7
    assert settings.retention_days == 30
    assert settings.k_anonymity == 3
    assert settings.log_level == "WARNING"
    assert settings.allowed_origins == ("https://a.example.org", "https://b.example.org")
    assert settings.public_page is True
    assert settings.max_body_bytes == 20000
    # Fixed by the script, not options: plain HTTP on the port, the Supervisor's address.
    assert env["SESSION_COOKIE_SECURE"] == "false"
    assert settings.session_cookie_secure is False
    assert env["INGRESS_PROXY"] == "172.30.32.2"
    assert settings.ingress_proxy == ("172.30.32.2",)
    assert settings.trust_proxy is True
    assert settings.report_schedule == "monthly"
    assert settings.report_email_to == options["report_email_to"]
    assert settings.smtp_host == "smtp.example.org"
    assert settings.smtp_port == 2525
    assert settings.smtp_user == "mailer"
    assert settings.smtp_password == "mail-password"
    assert settings.smtp_from == "stats@example.org"
    assert settings.alerts_enabled is False
    assert settings.alert_email_to == "oncall@example.org"
    assert settings.alert_webhook_url == options["alert_webhook_url"]
    assert settings.alert_check_seconds == 600
    assert settings.demo_data is False
    assert settings.reports_dir == str(tmp_path / "data" / "reports")


def test_defaults_only_start_with_sqlite_in_data(
    config: dict[str, Any], tmp_path: Path, free_port: int
) -> None:
    # What a fresh install sends: config.yaml's options, untouched (no API key needed).
    options = dict(config["options"])
    data_dir = tmp_path / "data"
    with running_addon(options, tmp_path, free_port) as pid:
        env = process_env(pid)
        assert run_healthcheck(free_port) == 0
    assert env["DATABASE_URL"] == f"sqlite:///{data_dir}/aggregation.db"
    assert (data_dir / "aggregation.db").exists()
    assert (data_dir / "reports").is_dir()
    unset = {OPTION_ENV[key] for key in config["schema"] if key not in options} - {"DATABASE_URL"}
    assert unset, "some options are optional"
    assert not unset & env.keys(), "unset optional options leave the server's defaults"
    assert env["SESSION_COOKIE_SECURE"] == "false"
    assert env["LOG_LEVEL"] == "info"
    # Stopped server: the health check reports unhealthy.
    assert run_healthcheck(free_port) == 1


def get_dashboard_data(port: int, source: str, headers: dict[str, str]) -> int:
    """Status of GET /dashboard/data.json sent from the loopback address `source`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/dashboard/data.json", headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_without_api_key_the_sidebar_is_the_only_way_in(
    config: dict[str, Any], tmp_path: Path, free_port: int
) -> None:
    # A fresh install: no key. 127.0.0.2 plays the Supervisor's ingress proxy.
    ingress = {
        "X-Ingress-Path": "/api/hassio_ingress/fresh-install-token",
        "X-Remote-User-Id": "0123456789abcdef0123456789abcdef",
        "X-Remote-User-Name": "maintainer",
        "X-Remote-User-Display-Name": "Maintainer",
    }
    with running_addon(dict(config["options"]), tmp_path, free_port, "127.0.0.2") as pid:
        assert "API_KEY" not in process_env(pid)
        assert get_dashboard_data(free_port, "127.0.0.2", ingress) == 200
        # The same headers from another address, or no headers: no rights, no admin API.
        assert get_dashboard_data(free_port, "127.0.0.1", ingress) == 503
        assert get_dashboard_data(free_port, "127.0.0.2", {}) == 503
    log = (tmp_path / "addon.log").read_text()
    assert "No 'api_key' set: the dashboard opens from the Home Assistant sidebar only" in log


def test_bad_value_is_reported_by_the_server(
    config: dict[str, Any], tmp_path: Path, free_port: int
) -> None:
    # The Supervisor validates types, but a free-text option can still be wrong.
    options = {**config["options"], "api_key": "k" * 20, "database_url": "mysql://db/x"}
    options_file = tmp_path / "options.json"
    options_file.write_text(json.dumps(options), encoding="utf-8")
    result = subprocess.run(
        [str(STAND_IN_BASHIO), str(RUN_SCRIPT)],
        env=script_env(options_file, tmp_path, free_port),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_service_definition() -> None:
    service = SERVICE_DIR / "aggregation"
    assert (service / "type").read_text().strip() == "longrun"
    assert (service / "dependencies.d" / "base").exists()
    assert (SERVICE_DIR / "user" / "contents.d" / "aggregation").exists()
    for script in (service / "run", service / "finish"):
        assert script.read_text().startswith("#!/command/with-contenv bashio\n")
        assert os.access(script, os.X_OK), f"{script.name} must be executable"
    assert os.access(HEALTHCHECK, os.X_OK)


def test_run_script_uses_only_what_the_stand_in_provides() -> None:
    # The stand-in implements a subset of bashio; a new call must be added there too.
    used = set()
    for word in RUN_SCRIPT.read_text().split():
        if word.startswith("bashio::"):
            used.add(word.split("(")[0].rstrip(";"))
    library = (STAND_IN_BASHIO.parent / "lib.sh").read_text()
    missing = [name for name in used if f"{name}()" not in library]
    assert not missing, missing


def test_bash_syntax() -> None:
    for script in (RUN_SCRIPT, SERVICE_DIR / "aggregation" / "finish"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    with suppress(FileNotFoundError):
        subprocess.run(["sh", "-n", str(STAND_IN_BASHIO.parent / "lib.sh")], check=False)
