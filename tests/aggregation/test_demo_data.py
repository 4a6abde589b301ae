"""The demo history: valid wire payloads with growth, migration, feature trend and a spike."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from conftest import free_port
from hypercorn.asyncio import serve
from hypercorn.config import Config
from printernizer_usage_core.models import parse_submission

from aggregation import demo_data
from aggregation.app import create_app
from aggregation.demo_data import DemoOptions, generate_history
from aggregation.settings import Settings

END = date(2026, 11, 16)


def _history(**changes: object) -> list:
    changes.setdefault("end", END)
    return generate_history(DemoOptions(**changes))  # type: ignore[arg-type]


def test_every_report_is_a_valid_submission() -> None:
    reports = _history()
    for payload in demo_data.payloads(reports):
        assert parse_submission(payload).submission_id is not None
    ids = {r.submission_id for r in reports}
    assert len(ids) == len(reports), "one report per installation and week"
    assert all(r.period.end.date() <= END for r in reports)


def test_reproducible_for_a_seed() -> None:
    assert _history() == _history()
    assert _history(seed=1) != _history(seed=2)


def test_history_has_growth_migration_and_feature_trend() -> None:
    reports = _history(installations=80, weeks=12)
    per_week: dict[date, list] = defaultdict(list)
    for r in reports:
        per_week[r.period.start.date()].append(r)
    weeks = sorted(per_week)
    assert len(weeks) == 12
    first, last = per_week[weeks[0]], per_week[weeks[-1]]
    assert len(last) > len(first) * 1.5, "installations grow over time"
    assert {r.installation.app_version for r in first} == {"1.4.2"}
    newest = Counter(r.installation.app_version for r in last).most_common(1)[0][0]
    assert newest == "1.6.0", "most installations migrated to the newest release"
    assert not any("material_tracking" in r.usage_stats.feature_usage for r in first)
    assert any(r.usage_stats.feature_usage.get("material_tracking") for r in last)
    modes = Counter(r.installation.deployment_mode.value for r in reports)
    assert set(modes) == {"homeassistant", "docker", "pi", "standalone"}


def _spike_errors(reports: list) -> list[int]:
    per_week: Counter[date] = Counter()
    for r in reports:
        per_week[r.period.start.date()] += r.error_summary.get(demo_data.SPIKE_ERROR, 0)
    return [per_week[w] for w in sorted(per_week)]


def test_injected_error_spike_and_without() -> None:
    with_spike = _spike_errors(_history())
    baseline = max(with_spike[:-1])
    assert with_spike[-1] > 10 * max(baseline, 1)
    without = _spike_errors(_history(spike_week=None))
    assert without[-1] <= 10


def test_cli_rejects_bad_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        demo_data.main(["--installations", "0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_cli_reports_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    code = demo_data.main(["--url", "http://127.0.0.1:9", "--installations", "1", "--weeks", "1"])
    assert code == 2
    assert "cannot reach" in capsys.readouterr().err


async def test_posting_the_history_over_http(
    make_settings: Callable[..., Settings],
) -> None:
    """The CLI's HTTP path against the real app served by hypercorn on 127.0.0.1."""
    application = create_app(make_settings())
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(application, config, shutdown_trigger=stop.wait))
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        reports = _history(installations=12, weeks=3, end=demo_data.default_end())
        statuses = await demo_data.post_reports(f"http://127.0.0.1:{port}", reports)
        assert sum(statuses.values()) == len(reports)
        assert set(statuses) <= {200, 201}
        again = await demo_data.post_reports(f"http://127.0.0.1:{port}", reports[:3])
        assert sum(again.values()) == 3, "retries are answered, not stored twice"
        repo = application.config["REPOSITORY"]
        assert await repo.count_submissions() == len(reports)
    finally:
        stop.set()
        await task


async def test_cli_writes_into_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["--database-url", url, "--installations", "5", "--weeks", "2"]
    code = await asyncio.to_thread(demo_data.main, args)
    assert code == 0
    assert "stored" in capsys.readouterr().out
    from aggregation.storage import open_repository

    repo = await open_repository(url)
    try:
        installations, submissions = await repo.totals()
    finally:
        await repo.close()
    assert installations == 5
    assert submissions == len(generate_history(DemoOptions(installations=5, weeks=2)))
