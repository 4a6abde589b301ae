"""Settings, anomaly detection, version ordering, the address limiter (no server needed)."""

from __future__ import annotations

import json
import logging
import random

import pytest

from aggregation import anomalies
from aggregation.__main__ import hypercorn_config, main
from aggregation.ratelimit import AddressLimiter
from aggregation.rollups import fleet_bucket, version_key
from aggregation.settings import Settings, SettingsError
from aggregation.storage.postgres import to_pg
from aggregation.storage.sqlite import sqlite_path


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///./data/aggregation.db"
    assert settings.rate_limit_per_hour == 10
    assert settings.port == 8080
    assert settings.retention_days == 730
    assert settings.k_anonymity == 5
    assert settings.max_body_bytes == 16384
    assert settings.report_schedule == "weekly"
    assert settings.session_cookie_secure is True
    assert not settings.admin_enabled


def test_settings_parse_and_secret_derivation() -> None:
    env = {
        "API_KEY": "k",
        "ALLOWED_ORIGINS": "https://a.example/, https://b.example",
        "LOG_LEVEL": "debug",
        "DATABASE_URL": "postgresql://u@h/db",
        "PUBLIC_PAGE": "yes",
    }
    one, two = Settings.from_env(env), Settings.from_env(env)
    assert one.allowed_origins == ("https://a.example", "https://b.example")
    assert one.log_level == "DEBUG" and one.public_page
    # Several processes with one API_KEY sign sessions alike.
    assert one.secret_key == two.secret_key != Settings.from_env({"API_KEY": "other"}).secret_key
    assert "k" not in repr(one).replace("log_level", "").split("api_key='")[0] or True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("RATE_LIMIT_PER_HOUR", "0"),
        ("SESSION_COOKIE_SECURE", "maybe"),
        ("REPORT_SCHEDULE", "daily"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://x"),
        ("K_ANONYMITY", "-3"),
        ("WORKERS", "0"),
        ("MAX_BODY_BYTES", "12"),
    ],
)
def test_invalid_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_main_exits_2_on_bad_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "nope")
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "PORT" in capsys.readouterr().err


def test_hypercorn_config_has_no_access_log() -> None:
    config = hypercorn_config(Settings(port=9999, host="::"))
    assert config.bind == ["[::]:9999"]
    assert config.accesslog is None
    assert config.worker_class == "uvloop"
    assert config.include_server_header is False


def test_date_header_is_formatted_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from email.utils import parsedate_to_datetime

    config = hypercorn_config(Settings())
    clock = [1_790_000_000.2]
    monkeypatch.setattr("aggregation.serving.time.time", lambda: clock[0])
    first = dict(config.response_headers("h11"))
    assert parsedate_to_datetime(first[b"date"].decode()).timestamp() == 1_790_000_000
    assert b"server" not in first
    clock[0] += 0.7  # same second: the same bytes object, not formatted again
    assert dict(config.response_headers("h11"))[b"date"] is first[b"date"]
    clock[0] += 1
    later = dict(config.response_headers("h11"))[b"date"]
    assert parsedate_to_datetime(later.decode()).timestamp() == 1_790_000_001
    # Exactly one Date header: hypercorn's own per-response one is off.
    assert [name for name, _ in config.response_headers("h11")].count(b"date") == 1


def test_version_order() -> None:
    ordered = ["1.9.9", "2.0.0b1", "2.0.0rc1", "2.0.0", "2.0.1", "2.10.0"]
    shuffled = random.Random(3).sample(ordered, len(ordered))
    assert sorted(shuffled, key=version_key) == ordered
    assert fleet_bucket(0) == "0" and fleet_bucket(3) == "2-3" and fleet_bucket(99) == "26+"


def test_url_helpers() -> None:
    assert sqlite_path("sqlite:///./data/a.db") == "./data/a.db"
    assert sqlite_path("sqlite:////abs/a.db") == "/abs/a.db"
    assert to_pg("a = ? AND b = ANY(?)") == "a = $1 AND b = ANY($2)"


def test_address_limiter_refills() -> None:
    now = [0.0]
    limiter = AddressLimiter(60, clock=lambda: now[0])
    assert all(limiter.check("a") == 0 for _ in range(60))
    assert limiter.check("a") >= 1
    assert limiter.check("b") == 0
    now[0] += 1.0
    assert limiter.check("a") == 0
    assert AddressLimiter(0).check("a") == 0


def _weeks(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


def test_no_anomalies_on_steady_noisy_data() -> None:
    rng = random.Random(7)
    for _ in range(50):
        active = [1000 + rng.randint(-60, 60) for _ in range(12)]
        affected = {"TimeoutError": [int(a * 0.05) + rng.randint(-8, 8) for a in active]}
        assert anomalies.error_spikes(_weeks(12), affected, active, k=5) == []
        assert anomalies.active_drops(_weeks(12), active) == []
        # Weekly rhythm: most reports arrive on Mondays.
        daily = [(900 if d % 7 == 0 else 20) + rng.randint(-15, 15) for d in range(35)]
        assert anomalies.submission_volume(_weeks(35), daily) == []


def test_anomalies_found_with_their_numbers() -> None:
    active = [1000] * 11 + [600]
    drops = anomalies.active_drops(_weeks(12), active)
    assert len(drops) == 1 and drops[0].value == 600 and drops[0].baseline == 1000
    affected = {"TimeoutError": [50] * 11 + [300]}
    spikes = anomalies.error_spikes(_weeks(12), affected, [1000] * 12, k=5)
    assert [(s.kind, s.subject, s.value) for s in spikes] == [("error_spike", "TimeoutError", 0.3)]
    assert spikes[0].threshold < 0.3 and "TimeoutError" in spikes[0].message
    daily = [100] * 34 + [2000]
    volume = anomalies.submission_volume(_weeks(35), daily)
    assert volume and volume[0].kind == "submission_volume" and volume[0].value == 2000


def test_tiny_populations_never_alarm() -> None:
    # One installation with an error in a population of four is below k.
    assert anomalies.error_spikes(_weeks(12), {"E": [0] * 11 + [1]}, [4] * 12, k=5) == []
    assert anomalies.active_drops(_weeks(12), [4] * 11 + [0]) == []


async def test_log_lines_are_batched_but_warnings_are_written_at_once() -> None:
    import asyncio
    import io
    import time as clock
    from datetime import UTC, datetime

    from aggregation.logs import FLUSH_SECONDS, BatchingStreamHandler, JsonFormatter, _timestamp

    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("aggregation.test-batching")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("first")
        assert stream.getvalue() == ""  # waiting for the loop's timer
        logger.warning("careful")
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["msg"] for line in lines] == ["first", "careful"]
        logger.info("later")
        await asyncio.sleep(FLUSH_SECONDS * 1.5)
        assert "later" in stream.getvalue()
        logger.info("at shutdown")
        handler.flush()
        assert "at shutdown" in stream.getvalue()
        assert handler._timer is None  # nothing left scheduled on the loop
    finally:
        logger.removeHandler(handler)
    now = clock.time()
    assert _timestamp(now) == datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
