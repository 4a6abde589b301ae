"""Screenshots of the example Lovelace dashboard and the sharing preview from a real Home Assistant.

Not part of CI. It starts a throw-away Home Assistant with the integration and a local aggregation
server, fills them with demo data, and photographs the UI with headless Chromium.

One-time setup (a scratch venv; the project's .venv stays untouched):

    /root/.pyenv/versions/3.13.0/bin/python3.13 -m venv /tmp/ha-shot/venv
    /tmp/ha-shot/venv/bin/pip install uv
    /tmp/ha-shot/venv/bin/uv pip install --python /tmp/ha-shot/venv/bin/python \
        homeassistant==2025.4.4 home-assistant-frontend==20250411.0 aiosqlite==0.22.1 \
        pydantic==2.10.6

Run (from the repository root, with the project's venv, which has aiohttp and playwright):

    .venv/bin/python docs/tools/ha_screenshot.py --hass /tmp/ha-shot/venv/bin/hass

It writes docs/screenshots/ha-dashboard.png and docs/screenshots/ha-config-flow.png. Everything
else lives in --workdir (default /tmp/ha-shot/run, wiped first). What is demo data: the recorded
events, two stub printer integrations (`bambu_lab` with two devices, `moonraker` with one) that
exist only in the throw-away config directory, and the graph's long-term statistics before this
week, imported (a fresh instance has no history). Everything else — entities, states, the preview
and the first weekly report sent to the aggregation server — is the integration's real output.

It fails if docs/lovelace-dashboard.yaml names a sensor that does not exist. `--hold N` keeps
both servers running N seconds at the end (and prints the URL and an access token) to look around.
pydantic is in the list above because Home Assistant does not install it by itself and the
integration's manifest does not ask for it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from playwright.async_api import Page, async_playwright

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.browser import CHROMIUM_ARGS  # noqa: E402 - the browser tests' launch flags

SENSOR = "sensor.printernizer_usage_statistics_"
DASHBOARD_PATH = "printernizer-stats"

CONFIGURATION_YAML = """\
homeassistant:
  name: Home
  time_zone: Europe/Berlin
  unit_system: metric
  country: DE
  currency: EUR
  latitude: 52.52
  longitude: 13.40
  elevation: 34
frontend:
config:
recorder:
  commit_interval: 1
history:
logbook:
logger:
  default: warning
http:
  server_host: 127.0.0.1
  server_port: {port}
lovelace:
  mode: storage
"""

# A stub printer integration: one config entry whose setup registers `count` printer devices, so
# the integration's fleet sensor (read from the device registry) has something to count.
STUB_MANIFEST = {
    "name": "Demo printers",
    "codeowners": [],
    "config_flow": True,
    "documentation": "https://example.invalid",
    "integration_type": "hub",
    "iot_class": "local_push",
    "requirements": [],
    "version": "0.0.1",
}
STUB_INIT = '''\
"""Stub printer integration for screenshots: registers {count} printer devices."""
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    registry = dr.async_get(hass)
    for number in range({count}):
        registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={{("{domain}", f"demo-{{number}}")}},
            name=f"Demo printer {{number + 1}}",
        )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    return True
'''
STUB_FLOW = '''\
"""Stub config flow: creates the entry at once."""
from homeassistant.config_entries import ConfigFlow


class StubFlow(ConfigFlow, domain="{domain}"):
    async def async_step_user(self, user_input=None):
        return self.async_create_entry(title="Demo printers", data={{}})
'''
STUB_PRINTERS = {"bambu_lab": 2, "moonraker": 1}

# (event_type, metadata, how many): one busy week of a small print farm.
DEMO_EVENTS: list[tuple[str, dict[str, Any], int]] = [
    ("app_start", {"app_version": "2.4.0"}, 1),
    ("printer_connected", {"printer_type": "bambu_lab"}, 2),
    ("printer_connected", {"printer_type": "klipper"}, 1),
    ("job_created", {"printer_type": "bambu_lab"}, 19),
    ("job_completed", {"printer_type": "bambu_lab", "duration_seconds": 5400}, 12),
    ("job_completed", {"printer_type": "klipper", "duration_seconds": 9000}, 5),
    ("job_failed", {"printer_type": "bambu_lab", "error": "TimeoutError"}, 1),
    ("job_failed", {"printer_type": "klipper", "error": "ThermalRunaway"}, 1),
    (
        "file_downloaded",
        {"printer_type": "bambu_lab", "file_type": "3mf", "file_size": 4_200_000},
        9,
    ),
    ("file_uploaded", {"printer_type": "klipper", "file_type": "gcode", "file_size": 900_000}, 4),
    ("error_occurred", {"error": "ConnectionResetError", "component": "printer"}, 2),
    ("error_occurred", {"error": "TimeoutError", "component": "printer"}, 1),
    ("feature_enabled", {"feature": "auto_download"}, 1),
]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_config(config_dir: Path, port: int) -> None:
    """A minimal configuration with the integration (symlinked) and the stub printer domains."""
    components = config_dir / "custom_components"
    components.mkdir(parents=True)
    (config_dir / "configuration.yaml").write_text(CONFIGURATION_YAML.format(port=port))
    (components / "printernizer_usage").symlink_to(REPO / "custom_components/printernizer_usage")
    for domain, count in STUB_PRINTERS.items():
        stub = components / domain
        stub.mkdir()
        (stub / "manifest.json").write_text(json.dumps({"domain": domain, **STUB_MANIFEST}))
        (stub / "__init__.py").write_text(STUB_INIT.format(domain=domain, count=count))
        (stub / "config_flow.py").write_text(STUB_FLOW.format(domain=domain))


class HomeAssistantClient:
    """REST and websocket calls against the running instance."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        """Talk to `base` (http://127.0.0.1:port)."""
        self.session = session
        self.base = base
        self.client_id = f"{base}/"
        self.tokens: dict[str, Any] = {}

    async def wait_ready(self, limit: float = 180) -> None:
        """Wait until the HTTP server answers."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                async with self.session.get(f"{self.base}/api/onboarding") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
        raise TimeoutError("Home Assistant did not start")

    async def onboard(self) -> None:
        """Create the owner, exchange the auth code for tokens, finish the onboarding steps."""
        async with self.session.post(
            f"{self.base}/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": "Demo",
                "username": "demo",
                "password": "demo-password-123",
                "language": "en",
            },
        ) as resp:
            resp.raise_for_status()
            code = (await resp.json())["auth_code"]
        async with self.session.post(
            f"{self.base}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        ) as resp:
            resp.raise_for_status()
            self.tokens = await resp.json()
        await self.post("/api/onboarding/core_config", {})
        await self.post("/api/onboarding/analytics", {})
        await self.post(
            "/api/onboarding/integration",
            {"client_id": self.client_id, "redirect_uri": f"{self.base}/?auth_callback=1"},
        )

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    async def post(self, path: str, body: Any) -> Any:
        """POST JSON, return the JSON answer (raises on an error status)."""
        async with self.session.post(f"{self.base}{path}", json=body, headers=self.headers) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise RuntimeError(f"POST {path} -> {resp.status}: {text}")
            return json.loads(text) if text else None

    async def get(self, path: str) -> Any:
        """GET JSON."""
        async with self.session.get(f"{self.base}{path}", headers=self.headers) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def flow(self, handler: str, *steps: dict[str, Any]) -> dict[str, Any]:
        """Run a config flow: start it, then submit each step's input in turn."""
        result = await self.post("/api/config/config_entries/flow", {"handler": handler})
        for step in steps:
            result = await self.post(f"/api/config/config_entries/flow/{result['flow_id']}", step)
        if result["type"] != "create_entry":
            raise RuntimeError(f"flow {handler} ended with {result}")
        return result

    async def ws(self, *commands: dict[str, Any]) -> list[Any]:
        """Send websocket commands one after another; return their results."""
        results = []
        async with self.session.ws_connect(f"{self.base}/api/websocket") as sock:
            await sock.receive_json()
            await sock.send_json({"type": "auth", "access_token": self.tokens["access_token"]})
            if (await sock.receive_json())["type"] != "auth_ok":
                raise RuntimeError("websocket auth failed")
            for number, command in enumerate(commands, start=1):
                await sock.send_json({"id": number, **command})
                answer = await sock.receive_json()
                if not answer.get("success"):
                    raise RuntimeError(f"{command['type']} failed: {answer}")
                results.append(answer.get("result"))
        return results


async def record_demo_events(ha: HomeAssistantClient) -> None:
    """Record the demo week through the integration's action."""
    for event_type, metadata, count in DEMO_EVENTS:
        for _ in range(count):
            await ha.post(
                "/api/services/printernizer_usage/record_event",
                {"event_type": event_type, "metadata": metadata},
            )


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def import_history(ha: HomeAssistantClient, completed_now: int, failed_now: int) -> None:
    """32 days of hourly statistics for the graph's two sensors (demo data: no history yet).

    The sensors are weekly counters (state class total, last_reset at Monday 00:00 UTC), so
    their statistics are a running sum; the graph shows its daily change, the jobs per day.
    Random daily job counts (fixed seed), each day's jobs at noon UTC, the week's count as the
    state. The sums are shifted to end at 0 now: the recorder's own first compile starts from
    0, so the imported history and the live statistics join without a jump. The current week's
    count is made to match the sensors' states.
    """
    rng = random.Random(5)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    this_monday = now.date() - timedelta(days=now.weekday())
    # Two days more than the graph shows: its first day's change needs the sum before it.
    hours = [now - timedelta(hours=hour) for hour in range(32 * 24, -1, -1)]
    commands: list[dict[str, Any]] = []
    for key, daily_choices, current in (
        ("jobs_completed_this_week", (0, 1, 2, 2, 3, 3, 4, 5), completed_now),
        ("jobs_failed_this_week", (0, 0, 0, 0, 1), failed_now),
    ):
        # (when, how many): a random number at noon of each earlier week's day; this week's
        # count is today's demo events (recorded just now), so its earlier days had none.
        jobs = [
            (_utc_midnight(day) + timedelta(hours=12), rng.choice(daily_choices))
            for day in sorted({hour.date() for hour in hours})
            if day < this_monday
        ]
        jobs.append((now, current))
        rows = []
        for start in hours:
            monday = start.date() - timedelta(days=start.weekday())
            week_start = _utc_midnight(monday)
            done = [(when, n) for when, n in jobs if when <= start]
            rows.append(
                {
                    "start": start,
                    "state": sum(n for when, n in done if when >= week_start),
                    "sum": sum(n for _when, n in done),
                    "last_reset": week_start,
                }
            )
        end_sum = rows[-1]["sum"]
        stats = [
            {
                "start": row["start"].isoformat(),
                "state": row["state"],
                "sum": row["sum"] - end_sum,
                "last_reset": row["last_reset"].isoformat(),
            }
            for row in rows
        ]
        commands.append(
            {
                "type": "recorder/import_statistics",
                "metadata": {
                    "has_mean": False,
                    "has_sum": True,
                    "name": None,
                    "source": "recorder",
                    "statistic_id": SENSOR + key,
                    "unit_of_measurement": None,
                },
                "stats": stats,
            }
        )
    await ha.ws(*commands)
    # The recorder imports in its own queue; wait until both series can be read back, or the
    # graph would load (and keep) a half-imported history.
    ids = [command["metadata"]["statistic_id"] for command in commands]
    query = {
        "type": "recorder/statistics_during_period",
        "start_time": (now - timedelta(days=31)).isoformat(),
        "statistic_ids": ids,
        "period": "day",
        "types": ["change"],
    }
    for _ in range(60):
        (result,) = await ha.ws(query)
        if all(len(result.get(statistic_id, [])) >= 30 for statistic_id in ids):
            return
        await asyncio.sleep(1)
    raise TimeoutError("the imported statistics did not appear")


async def create_dashboard(ha: HomeAssistantClient) -> None:
    """A storage dashboard holding docs/lovelace-dashboard.yaml as is."""
    config = yaml.safe_load((REPO / "docs/lovelace-dashboard.yaml").read_text())
    await ha.ws(
        {
            "type": "lovelace/dashboards/create",
            "url_path": DASHBOARD_PATH,
            "title": "Printernizer",
            "icon": "mdi:printer-3d",
            "show_in_sidebar": True,
            "require_admin": False,
            "mode": "storage",
        },
        {"type": "lovelace/config/save", "url_path": DASHBOARD_PATH, "config": config},
    )


async def missing_entities(ha: HomeAssistantClient) -> list[str]:
    """Entity ids the dashboard YAML uses that do not exist."""
    text = (REPO / "docs/lovelace-dashboard.yaml").read_text()
    states = {state["entity_id"] for state in await ha.get("/api/states")}
    used = {word.strip(",:") for word in text.split() if word.startswith("sensor.")}
    return sorted(used - states)


async def wait_for_state(
    ha: HomeAssistantClient, entity_id: str, accept: Any, limit: float
) -> None:
    """Wait until `accept(state)` is true."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        state = (await ha.get(f"/api/states/{entity_id}"))["state"]
        if accept(state):
            return
        # No update_entity here: the integration refreshes by itself on new events, setting
        # changes and after every delivery attempt.
        await asyncio.sleep(1)
    raise TimeoutError(f"{entity_id} stayed at {state}")


async def open_page(
    browser: Any, ha: HomeAssistantClient, path: str, width: int, height: int
) -> Page:
    """A logged-in page: the tokens go into localStorage before the frontend loads."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=1, locale="en-US"
    )
    hass_tokens = {
        **ha.tokens,
        "hassUrl": ha.base,
        "clientId": ha.client_id,
        "expires": int(time.time() * 1000) + ha.tokens["expires_in"] * 1000,
    }
    await context.add_init_script(
        f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(hass_tokens))});"
    )
    page = await context.new_page()
    await page.goto(f"{ha.base}{path}")
    return page


async def shoot_preview(browser: Any, ha: HomeAssistantClient, out: Path) -> None:
    """Options → switch sharing on → the preview; photograph it, then confirm sharing."""
    page = await open_page(
        browser, ha, "/config/integrations/integration/printernizer_usage", 1280, 900
    )
    await page.get_by_role("button", name="Configure").first.click()
    dialog = page.locator("dialog-data-entry-flow")
    await dialog.get_by_role("switch").first.click()
    await dialog.get_by_role("button", name="Submit").click()
    await dialog.get_by_text("This is exactly what would be sent").wait_for()
    # The end of the preview: the longest value (the deletion key hash, wrapped to fit) and
    # the two choices below it.
    await dialog.get_by_text("Share these statistics").scroll_into_view_if_needed()
    await page.wait_for_timeout(1500)
    await page.screenshot(path=str(out))
    await dialog.get_by_text("Share these statistics").click()
    await page.wait_for_timeout(1500)
    await page.context.close()


async def shoot_dashboard(browser: Any, ha: HomeAssistantClient, out: Path) -> None:
    """The example dashboard, once its cards (and the graph) have rendered."""
    page = await open_page(browser, ha, f"/{DASHBOARD_PATH}/printernizer-usage", 1280, 720)
    graph = page.locator("hui-statistics-graph-card")
    await page.locator("hui-glance-card").wait_for()
    # The chart draws its series one after another (animated): wait for every legend entry.
    config = yaml.safe_load((REPO / "docs/lovelace-dashboard.yaml").read_text())
    for card in config["views"][0]["cards"]:
        for entity in card.get("entities", []) if card["type"] == "statistics-graph" else []:
            await graph.get_by_text(entity["name"], exact=True).wait_for()
    await page.wait_for_timeout(3000)
    await page.screenshot(path=str(out))
    await page.context.close()


def start_servers(workdir: Path, hass: Path) -> tuple[list[subprocess.Popen[bytes]], int, int]:
    """A fresh work dir, then the aggregation server and Home Assistant in the background."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ha_port, agg_port = free_port(), free_port()
    prepare_config(workdir / "config", ha_port)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir}/agg.db",
        "API_KEY": "demo-admin-key-123456",
        "PORT": str(agg_port),
        "HOST": "127.0.0.1",
        "REPORT_SCHEDULE": "off",
        "SESSION_COOKIE_SECURE": "false",
    }
    agg_log = (workdir / "agg.log").open("wb")
    hass_log = (workdir / "hass.log").open("wb")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "aggregation"],
            cwd=REPO,
            env=env,
            stdout=agg_log,
            stderr=subprocess.STDOUT,
        ),
        # The hass executable comes from the command line of whoever runs this tool.
        subprocess.Popen(  # noqa: S603
            [str(hass), "-c", str(workdir / "config")], stdout=hass_log, stderr=subprocess.STDOUT
        ),
    ]
    return procs, ha_port, agg_port


def stop_servers(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process this tool started; kill what does not stop within 30 s."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def run(args: argparse.Namespace, ha_port: int, agg_port: int) -> None:
    """Fill the running instance with demo data and photograph it."""
    async with aiohttp.ClientSession() as session:
        ha = HomeAssistantClient(session, f"http://127.0.0.1:{ha_port}")
        await ha.wait_ready()
        await ha.onboard()
        await ha.flow(
            "printernizer_usage", {}, {"share": False, "endpoint": f"http://127.0.0.1:{agg_port}"}
        )
        for domain in STUB_PRINTERS:
            await ha.flow(domain)
        await record_demo_events(ha)
        await wait_for_state(ha, SENSOR + "jobs_completed_this_week", lambda s: s != "0", 30)
        if missing := await missing_entities(ha):
            raise RuntimeError(f"docs/lovelace-dashboard.yaml uses unknown entities: {missing}")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            await shoot_preview(browser, ha, args.out / "ha-config-flow.png")
            await wait_for_state(ha, SENSOR + "sharing_status", lambda s: s == "on", 30)
            await wait_for_state(
                ha, SENSOR + "last_submission", lambda s: s not in ("unknown", "unavailable"), 60
            )
            await import_history(
                ha,
                int((await ha.get(f"/api/states/{SENSOR}jobs_completed_this_week"))["state"]),
                int((await ha.get(f"/api/states/{SENSOR}jobs_failed_this_week"))["state"]),
            )
            await create_dashboard(ha)
            await shoot_dashboard(browser, ha, args.out / "ha-dashboard.png")
            await browser.close()
        if args.hold:
            print(
                f"Home Assistant: {ha.base}, access token: {ha.tokens['access_token']}", flush=True
            )
            await asyncio.sleep(args.hold)


def main() -> None:
    """Command line entry point."""
    scratch = Path(tempfile.gettempdir()) / "ha-shot"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hass", type=Path, default=scratch / "venv/bin/hass")
    parser.add_argument("--workdir", type=Path, default=scratch / "run")
    parser.add_argument("--out", type=Path, default=REPO / "docs/screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--hold", type=float, default=0, help="keep running N seconds at the end")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    procs, ha_port, agg_port = start_servers(args.workdir, args.hass)
    try:
        asyncio.run(run(args, ha_port, agg_port))
    finally:
        stop_servers(procs)


if __name__ == "__main__":
    main()
