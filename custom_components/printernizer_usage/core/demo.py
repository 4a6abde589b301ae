"""A short demo of the core: record events, show the local statistics and the payload preview."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from pathlib import Path

from .service import UsageStatsService

_DEMO_EVENTS: tuple[tuple[str, dict[str, object]], ...] = (
    ("app_start", {"app_version": "2.4.0"}),
    ("printer_connected", {"printer_type": "bambu_lab"}),
    ("printer_connected", {"printer_type": "prusa_core"}),
    ("job_created", {"printer_type": "bambu_lab"}),
    ("job_completed", {"printer_type": "bambu_lab", "duration_seconds": 5400}),
    ("job_failed", {"printer_type": "prusa_core", "error": "TimeoutError: printer went away"}),
    ("file_downloaded", {"printer_type": "bambu_lab", "file_type": "3mf", "file_size": 4_200_000}),
    ("error_occurred", {"error": "ConnectionResetError", "component": "printer"}),
    ("feature_enabled", {"feature": "auto_download"}),
    # Refused by the privacy guard: an unknown type, and personal data in metadata.
    ("user_logged_in", {"user": "alice"}),
    ("file_uploaded", {"file_name": "/home/alice/benchy.3mf", "printer_type": "octoprint"}),
)


async def run_demo(db_path: Path, events: int, out: list[str]) -> None:
    """Record `events` demo events into `db_path` and print what the user would see."""
    service = UsageStatsService(db_path, app_version="2.4.0")
    await service.start()
    try:
        rng = random.Random(7)
        accepted = sum(
            service.record_event(*rng.choice(_DEMO_EVENTS)) for _ in range(events)
        ) + sum(service.record_event(name, meta) for name, meta in _DEMO_EVENTS)
        await service.set_printer_fleet({"bambu_lab": 2, "prusa_core": 1})
        await service.flush()
        stats = await service.local_stats(days=7)
        out.append(f"recorded {accepted} events ({service.recorder.counters.rejected} refused)")
        out.append("this week: " + stats.usage_stats.model_dump_json())
        out.append(
            "sharing: " + ("on" if stats.settings.sharing else "off (opt-in is off by default)")
        )
        out.append("the payload that opting in would send:")
        out.append(json.dumps(json.loads(await service.preview()), indent=2))
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: `printernizer-usage-demo [--db PATH] [--events N]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--events", type=int, default=200, help="how many demo events to record")
    args = parser.parse_args(argv)
    out: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run_demo(args.db or Path(tmp) / "usage.db", args.events, out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
