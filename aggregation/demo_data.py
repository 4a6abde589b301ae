"""Demo data: a realistic, reproducible history of weekly reports for a populated dashboard."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from printernizer_usage_core.models import (
    CONSENT_VERSION,
    AggregatedStats,
    DeploymentMode,
    InstallationInfo,
    PrinterFleetStats,
    PrinterType,
    TimePeriod,
    UsageStats,
    day_start,
    submission_id_for,
)

# Releases in order; each becomes available at a fraction of the history and spreads with lag,
# so the version-migration chart shows old versions draining into new ones.
RELEASES: tuple[tuple[str, float], ...] = (
    ("1.4.2", 0.0),
    ("1.5.0", 0.25),
    ("1.5.1", 0.45),
    ("1.6.0", 0.7),
)
DEPLOYMENT_WEIGHTS = {
    DeploymentMode.HOMEASSISTANT: 45,
    DeploymentMode.DOCKER: 30,
    DeploymentMode.PI: 15,
    DeploymentMode.STANDALONE: 10,
}
COUNTRY_WEIGHTS = {
    "DE": 30,
    "US": 22,
    "GB": 10,
    "NL": 8,
    "FR": 7,
    "AT": 5,
    "CH": 4,
    "CA": 4,
    "AU": 3,
    "PL": 3,
    "SE": 2,
    "JP": 1,
    "XX": 1,
}
PRINTER_WEIGHTS = {
    PrinterType.BAMBU_LAB: 50,
    PrinterType.PRUSA_CORE: 25,
    PrinterType.OCTOPRINT: 15,
    PrinterType.KLIPPER: 10,
}
# Feature → share of installations that enable it; material tracking only exists from 1.6.0.
FEATURE_RATES = {
    "auto_download": 0.72,
    "notifications": 0.55,
    "job_queue": 0.41,
    "timelapse": 0.28,
    "mqtt_bridge": 0.18,
    "material_tracking": 0.6,
}
NEW_FEATURE = ("material_tracking", "1.6.0")
BASE_ERRORS = {
    "ConnectionError": 0.35,
    "TimeoutError": 0.25,
    "FTPError": 0.12,
    "JSONDecodeError": 0.05,
}
SPIKE_ERROR = "MQTTDisconnectError"
PYTHON_VERSIONS = ("3.11.9", "3.12.7", "3.13.1")
PLATFORMS = ("linux", "linux", "linux", "linux", "darwin", "windows")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What to generate: how many installations over how many weeks, ending at `end`."""

    installations: int = 60
    weeks: int = 12
    seed: int = 8
    # First day after the last reported week (a Monday by default, so weeks are calendar weeks).
    end: date | None = None
    # Week index (0 = oldest) whose error counts are multiplied; None disables the spike.
    spike_week: int | None = -1
    spike_factor: int = 12


def _weighted[T](rng: random.Random, weights: dict[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()), k=1)[0]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's Poisson sampler: fine for the small means used here."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def default_end(today: date | None = None) -> date:
    """The Monday on or before today: the last complete calendar week ends there."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


@dataclass(slots=True)
class _Installation:
    installation_id: uuid.UUID
    joined_week: int
    left_week: int  # exclusive: no reports from this week on
    mode: DeploymentMode
    country: str
    python: str
    platform: str
    fleet: dict[PrinterType, int]
    features: dict[str, bool]
    upgrade_lag: int
    activity: float
    deletion_key_hash: str


def _fleet(rng: random.Random) -> dict[PrinterType, int]:
    # Most users run one to three printers; a few run print farms.
    size = rng.choice((1, 1, 1, 2, 2, 3, 4, 6)) if rng.random() > 0.06 else rng.randint(10, 40)
    fleet: dict[PrinterType, int] = {}
    main = _weighted(rng, PRINTER_WEIGHTS)
    for _ in range(size):
        ptype = main if rng.random() < 0.75 else _weighted(rng, PRINTER_WEIGHTS)
        fleet[ptype] = fleet.get(ptype, 0) + 1
    return fleet


def _make_installation(rng: random.Random, weeks: int) -> _Installation:
    # Adoption accelerates: later weeks see more new installations (sqrt skews towards the end).
    joined = 0 if rng.random() < 0.35 else int(weeks * math.sqrt(rng.random()))
    joined = min(joined, weeks - 1)
    left = weeks if rng.random() > 0.12 else rng.randint(joined + 1, weeks)
    features = {
        name: rng.random() < rate for name, rate in FEATURE_RATES.items() if name != NEW_FEATURE[0]
    }
    return _Installation(
        installation_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        joined_week=joined,
        left_week=left,
        mode=_weighted(rng, DEPLOYMENT_WEIGHTS),
        country=_weighted(rng, COUNTRY_WEIGHTS),
        python=rng.choice(PYTHON_VERSIONS),
        platform=rng.choice(PLATFORMS),
        fleet=_fleet(rng),
        features=features,
        upgrade_lag=min(int(rng.expovariate(1 / 1.5)), 8),
        activity=rng.uniform(0.4, 1.8),
        deletion_key_hash=hashlib.sha256(rng.randbytes(32)).hexdigest(),
    )


def _version_at(week: int, weeks: int, lag: int) -> str:
    """The newest release out for at least `lag` weeks by `week`."""
    current = RELEASES[0][0]
    for version, fraction in RELEASES:
        if week - lag >= int(fraction * weeks):
            current = version
    return current


def _release_index(version: str) -> int:
    return [name for name, _ in RELEASES].index(version)


def _report(
    rng: random.Random, inst: _Installation, week: int, options: DemoOptions, end: date
) -> AggregatedStats:
    weeks = options.weeks
    first = end - timedelta(days=7 * (weeks - week))
    period = TimePeriod.from_days(first, first + timedelta(days=7))
    version = _version_at(week, weeks, inst.upgrade_lag)
    features = dict(inst.features)
    name, since = NEW_FEATURE
    if _release_index(version) >= _release_index(since):
        # Adoption of the new feature grows week by week after the upgrade.
        features[name] = rng.random() < FEATURE_RATES[name]
    printers = sum(inst.fleet.values())
    jobs = _poisson(rng, 6 * inst.activity * max(1, printers) ** 0.7)
    failed = sum(1 for _ in range(jobs) if rng.random() < 0.07)
    spike_week = None if options.spike_week is None else options.spike_week % weeks
    errors: dict[str, int] = {}
    for error, mean in BASE_ERRORS.items():
        count = _poisson(rng, mean * inst.activity)
        if count:
            errors[error] = count
    if week == spike_week and inst.fleet.get(PrinterType.BAMBU_LAB):
        # The injected incident: a broker change breaks MQTT for Bambu Lab users.
        errors[SPIKE_ERROR] = _poisson(rng, 0.5 * options.spike_factor) + 1
        errors["ConnectionError"] = errors.get("ConnectionError", 0) + options.spike_factor // 2
    elif rng.random() < 0.03:
        errors[SPIKE_ERROR] = 1
    return AggregatedStats(
        submission_id=submission_id_for(inst.installation_id, period),
        consent_version=CONSENT_VERSION,
        installation=InstallationInfo(
            installation_id=inst.installation_id,
            first_seen=day_start(end - timedelta(days=7 * (weeks - inst.joined_week))),
            app_version=version,
            python_version=inst.python,
            platform=inst.platform,
            deployment_mode=inst.mode,
            country_code=inst.country,
        ),
        period=period,
        printer_fleet=PrinterFleetStats.from_counts(inst.fleet),
        usage_stats=UsageStats(
            job_count=jobs,
            file_count=_poisson(rng, jobs * 0.8),
            upload_count=_poisson(rng, jobs * 0.3),
            uptime_hours=min(168, int(rng.uniform(0.5, 1.0) * 168)),
            feature_usage=features,
            jobs_created=jobs,
            jobs_completed=jobs - failed,
            jobs_failed=failed,
            printer_connections=_poisson(rng, printers * 2),
            app_starts=_poisson(rng, 1.2) + 1,
        ),
        error_summary=errors,
        event_counts={
            "job_completed": jobs - failed,
            "job_failed": failed,
            "app_start": 1,
        },
        deletion_key_hash=inst.deletion_key_hash,
    )


def generate_history(options: DemoOptions | None = None) -> list[AggregatedStats]:
    """Weekly reports of `options.installations` installations over `options.weeks` weeks.

    Reproducible for a given seed and end date. Installations join over time (growth), a few
    stop reporting (churn), upgrade to new releases with a lag (migration), adopt a feature that
    ships in 1.6.0 (feature trend), and most Bambu Lab users hit an error spike in the
    `spike_week` (the anomaly the dashboard should flag). Ordered oldest week first.
    """
    options = options or DemoOptions()
    if options.installations < 1 or options.weeks < 1:
        raise ValueError("installations and weeks must be at least 1")
    rng = random.Random(options.seed)
    end = options.end or default_end()
    fleet = [_make_installation(rng, options.weeks) for _ in range(options.installations)]
    reports: list[AggregatedStats] = []
    for week in range(options.weeks):
        for inst in fleet:
            if inst.joined_week <= week < inst.left_week:
                reports.append(_report(rng, inst, week, options, end))
    return reports


def payloads(reports: Iterable[AggregatedStats]) -> list[dict[str, Any]]:
    """The reports as JSON-able wire dicts (what POST /submit takes)."""
    return [report.model_dump(mode="json") for report in reports]


async def load_into_repository(repository: Any, reports: Sequence[AggregatedStats]) -> int:
    """Store the reports through the server's repository in one batch; returns how many were new.

    Each report counts as received the day after its period, so submission-volume trends
    look like a real history rather than one burst today. The per-installation rate limit is
    lifted for the load (a history has many reports per installation).
    """
    from .rollups import hour_number
    from .validation import to_record

    records = [
        to_record(
            report,
            original_schema=report.schema_version,
            received_day=report.period.end.date().toordinal(),
        )
        for report in reports
    ]
    results = await repository.write_batch(
        records, rate_limit_per_hour=len(records) + 1, now_hour=hour_number()
    )
    return sum(1 for result in results if result.outcome == "accepted")


async def post_reports(
    url: str,
    reports: Sequence[AggregatedStats],
    *,
    submit_key: str | None = None,
    concurrency: int = 8,
) -> dict[int, int]:
    """POST every report to `<url>/submit`; returns how many responses had each status code."""
    import aiohttp

    headers = {"Content-Type": "application/json"}
    if submit_key:
        headers["X-Submit-Key"] = submit_key
    statuses: dict[int, int] = {}
    gate = asyncio.Semaphore(concurrency)
    target = url.rstrip("/") + "/submit"

    async def send(session: aiohttp.ClientSession, report: AggregatedStats) -> None:
        async with gate, session.post(target, data=report.to_json(), headers=headers) as resp:
            await resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(send(session, report) for report in reports))
    return statuses


async def load_into_database(database_url: str, reports: Sequence[AggregatedStats]) -> int:
    """Open the server's database directly (migrating it if new) and store the reports."""
    from .storage import open_repository

    repository = await open_repository(database_url)
    try:
        return await load_into_repository(repository, reports)
    finally:
        await repository.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a history and POST it to a server (or write it to its database)."""
    parser = argparse.ArgumentParser(
        prog="python -m aggregation.demo_data",
        description=(
            "Fill an aggregation server with a realistic history of weekly reports. By default "
            "the reports are POSTed to --url (the server's rate limits must allow it: "
            "RATE_LIMIT_PER_HOUR >= --weeks, ADDRESS_RATE_LIMIT_PER_MINUTE=0); with "
            "--database-url they are written straight into the server's database."
        ),
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument(
        "--database-url", default=None, help="write into this DATABASE_URL instead of POSTing"
    )
    parser.add_argument("--installations", type=int, default=60)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--submit-key", default=None, help="only if the server requires one")
    parser.add_argument("--no-spike", action="store_true", help="leave out the error spike")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    if args.installations < 1 or args.weeks < 1:
        parser.error("--installations and --weeks must be at least 1")
    options = DemoOptions(
        installations=args.installations,
        weeks=args.weeks,
        seed=args.seed,
        spike_week=None if args.no_spike else -1,
    )
    reports = generate_history(options)
    if args.database_url:
        stored = asyncio.run(load_into_database(args.database_url, reports))
        print(f"stored {stored} of {len(reports)} reports in the database")
        return 0
    try:
        statuses = asyncio.run(
            post_reports(
                args.url, reports, submit_key=args.submit_key, concurrency=args.concurrency
            )
        )
    except OSError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{count} x HTTP {status}" for status, count in sorted(statuses.items()))
    print(f"sent {len(reports)} reports: {summary}")
    if statuses.get(429):
        print(
            "some reports were rate-limited: raise RATE_LIMIT_PER_HOUR and set "
            "ADDRESS_RATE_LIMIT_PER_MINUTE=0 on the server, use --database-url, or start the "
            "server with DEMO_DATA=true to have it load the demo history itself",
            file=sys.stderr,
        )
    return 0 if all(200 <= status < 300 for status in statuses) else 1


if __name__ == "__main__":
    raise SystemExit(main())
