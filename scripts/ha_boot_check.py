"""Boot a real Home Assistant with the integration copied in and set it up through its config flow.

Run by `scripts/ha-latest-env boot` inside the newest release's root, with a Home Assistant that
has none of the integration's requirements installed: Home Assistant installs them itself, under
its own package constraints, as it does for a HACS user. Passes when the onboarding, the config
flow over the REST API, the loaded entry and its entities all work; prints what it saw.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1]
DOMAIN = "printernizer_usage"
CLIENT_ID = "http://127.0.0.1/"
STARTUP_LIMIT = float(os.environ.get("HA_BOOT_TIMEOUT", "600"))
EXPECTED_ENTITIES = 11


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    """Home Assistant's HTTP API on localhost (a host name, as a browser on the machine uses)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://localhost:{port}"
        self.token: str | None = None

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        # Always http://localhost:<port> (self.base): no other scheme can come in.
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def raw(self, path: str) -> tuple[int, bytes]:
        """GET the bytes of a path."""
        return self._send(urllib.request.Request(self.base + path, headers=self._headers()))  # noqa: S310

    def call(
        self, method: str, path: str, body: Any = None, *, form: bool = False
    ) -> tuple[int, Any]:
        """One request; returns (status, decoded JSON or text)."""
        headers = self._headers()
        data = None
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, raw = self._send(
            urllib.request.Request(self.base + path, data, headers, method=method)  # noqa: S310
        )
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, *, form: bool = False) -> Any:
        """A request that must succeed."""
        status, answer = self.call(method, path, body, form=form)
        if status >= 400:
            raise SystemExit(f"{method} {path} answered {status}: {answer}")
        return answer


def write_config(config: Path, port: int, requirements: list[str] | None) -> None:
    """A fresh configuration: the frontend (and what it pulls in) and the integration's files.

    `requirements` replaces the manifest's (to show what other requirements would do).
    """
    (config / "configuration.yaml").write_text(
        "frontend:\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        "logger:\n  default: warning\n  logs:\n"
        "    homeassistant.util.package: info\n    homeassistant.requirements: info\n"
    )
    shutil.copytree(
        SRC / "custom_components" / DOMAIN,
        config / "custom_components" / DOMAIN,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if requirements is not None:
        manifest_file = config / "custom_components" / DOMAIN / "manifest.json"
        manifest = json.loads(manifest_file.read_text())
        manifest["requirements"] = requirements
        manifest_file.write_text(json.dumps(manifest))


def wait_for_onboarding(api: Api, hass: subprocess.Popen[bytes], log: Path) -> None:
    """Until the HTTP server answers (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if hass.poll() is not None:
            raise SystemExit(f"hass exited with {hass.returncode}:\n{log.read_text()[-4000:]}")
        try:
            status, _ = api.call("GET", "/api/onboarding")
        except OSError:
            status = 0
        if status == 200:
            return
        time.sleep(0.5)
    raise SystemExit(f"Home Assistant did not answer within {STARTUP_LIMIT:.0f} s")


def onboard(api: Api) -> None:
    """Create the owner as the onboarding page does, and log in with the code it returns."""
    answer = api.ok(
        "POST",
        "/api/onboarding/users",
        {
            "client_id": CLIENT_ID,
            "name": "Test Owner",
            "username": "owner",
            "password": "a-long-test-password",
            "language": "en",
        },
    )
    tokens = api.ok(
        "POST",
        "/auth/token",
        {"grant_type": "authorization_code", "code": answer["auth_code"], "client_id": CLIENT_ID},
        form=True,
    )
    api.token = tokens["access_token"]


def config_flow(api: Api) -> dict[str, Any]:
    """Add the integration through the config flow, sharing off (nothing leaves the machine)."""
    step = api.ok(
        "POST",
        "/api/config/config_entries/flow",
        {"handler": DOMAIN, "show_advanced_options": False},
    )
    steps = [step["step_id"]]
    step = api.ok("POST", f"/api/config/config_entries/flow/{step['flow_id']}", {})
    steps.append(step["step_id"])
    result = api.ok(
        "POST",
        f"/api/config/config_entries/flow/{step['flow_id']}",
        {"share": False, "endpoint": "https://usage.printernizer.com"},
    )
    if result.get("type") != "create_entry":
        raise SystemExit(f"the flow did not create an entry: {result}")
    print(f"config flow: steps {steps} -> {result['type']}")
    return dict(result["result"])


def wait_loaded(api: Api, entry_id: str) -> list[dict[str, Any]]:
    """Until the entry is loaded and its entities have states."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        entries = api.ok("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        state = next(e["state"] for e in entries if e["entry_id"] == entry_id)
        states = [
            s
            for s in api.ok("GET", "/api/states")
            if s["entity_id"].startswith("sensor.printernizer_usage_statistics_")
        ]
        if state == "loaded" and len(states) >= EXPECTED_ENTITIES:
            return states
        if state not in {"not_loaded", "setup_in_progress", "loaded"}:
            raise SystemExit(f"the entry is {state}")
        time.sleep(0.5)
    raise SystemExit("the entry did not load with its entities within 120 s")


def check_brand(api: Api) -> None:
    """Home Assistant serves the integration's own brand images (2026.3+), byte for byte."""
    brand = SRC / "custom_components" / DOMAIN / "brand"
    for image in sorted(brand.iterdir()):
        status, data = api.raw(f"/api/brands/integration/{DOMAIN}/{image.name}?placeholder=no")
        if status != 200 or data != image.read_bytes():
            raise SystemExit(f"brand image {image.name}: {status}, {len(data)} bytes")
    print(f"brand images served by Home Assistant: {sorted(p.name for p in brand.iterdir())}")


def installed(names: list[str]) -> dict[str, bool]:
    """Which of these distributions this Home Assistant's environment has."""
    listing = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "list", "--python", sys.executable],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    present = {line.split()[0] for line in listing.splitlines()[2:] if line.strip()}
    return {name: name.lower() in present for name in names}


def main() -> None:
    """Boot, onboard, configure, check, stop. Arguments: requirements to use instead."""
    started = time.monotonic()
    override = sys.argv[1:] or None
    requirements = (
        override
        or json.loads((SRC / "custom_components" / DOMAIN / "manifest.json").read_text())[
            "requirements"
        ]
    )
    names = [re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0] for line in requirements]
    print(f"requirements {requirements}; installed before boot: {installed(names)}")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config"
        config.mkdir()
        port = free_port()
        write_config(config, port, override)
        log = Path(tmp) / "hass.log"
        with log.open("wb") as out:
            # Not from the work tree: `python -m` puts the working directory on sys.path, and
            # the work tree's custom_components/ would shadow the copy in the configuration.
            hass = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
                [sys.executable, "-m", "homeassistant", "-c", str(config)],
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        api = Api(port)
        try:
            wait_for_onboarding(api, hass, log)
            print(f"Home Assistant answers after {time.monotonic() - started:.0f} s")
            onboard(api)
            version = api.ok("GET", "/api/config")["version"]
            print(f"Home Assistant {version}, Python {sys.version.split()[0]}")
            if not (config / "custom_components" / DOMAIN).is_dir():
                raise SystemExit("the integration was not copied into the configuration")
            status, index = api.call("GET", "/")
            print(f"frontend: GET / -> {status}, {len(str(index))} bytes")
            entry = config_flow(api)
            states = wait_loaded(api, entry["entry_id"])
            print(f"entry {entry['title']!r} loaded with {len(states)} entities:")
            for state in sorted(states, key=lambda s: s["entity_id"]):
                print(f"  {state['entity_id']} = {state['state']}")
            check_brand(api)
            after = installed(names)
            print(f"installed by Home Assistant: {after}")
            if not all(after.values()):
                raise SystemExit("Home Assistant did not install every requirement")
        finally:
            hass.send_signal(signal.SIGTERM)
            try:
                hass.wait(timeout=60)
            except subprocess.TimeoutExpired:
                hass.kill()
            text = log.read_text()
            print("log lines about the integration and its requirements:")
            for line in text.splitlines():
                if DOMAIN in line or "equirement" in line or "install" in line.lower():
                    print(f"  {line[:400]}")
        problems = [
            line
            for line in text.splitlines()
            if (" ERROR " in line or "deprecated" in line) and DOMAIN in line
        ]
        if problems:
            raise SystemExit("errors about the integration in the log:\n" + "\n".join(problems))
    print(f"boot check passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
