"""The OpenAPI document is the contract: what it promises, and schemathesis against the real server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import ADMIN_KEY
from quart import Quart
from test_aggregation_http import Server

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")


async def test_the_document_states_the_contract(app: Quart) -> None:
    spec = await (await app.test_client().get("/openapi.json")).get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer API_KEY",
    }
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-API-Key")
    assert schemes["submitKey"]["name"] == "X-Submit-Key"
    assert schemes["deletionSecret"]["name"] == "X-Deletion-Secret"
    submit = spec["paths"]["/submit"]["post"]
    bodies = submit["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert [b["$ref"].rsplit("/", 1)[1] for b in bodies] == [
        "AggregatedStats",
        "LegacyAggregatedStats",
    ]
    legacy = spec["components"]["schemas"]["LegacyAggregatedStats"]
    assert legacy["properties"]["schema_version"]["const"] == "1.0"
    assert set(submit["responses"]) == {
        "200", "201", "400", "401", "403", "408", "413", "415", "422", "429", "503"
    }  # fmt: skip
    assert submit["responses"]["429"]["headers"]["Retry-After"]
    error = submit["responses"]["415"]["content"]["application/json"]["schema"]["$ref"]
    assert spec["components"]["schemas"][error.rsplit("/", 1)[1]]["required"] == ["error"]
    assert {p["name"] for p in submit["parameters"]} == {"X-Submit-Key"}
    delete = spec["paths"]["/installation/{installation_id}"]["delete"]
    by_name = {p["name"]: p for p in delete["parameters"]}
    assert by_name["installation_id"]["schema"] == {"type": "string", "format": "uuid"}
    assert by_name["X-Deletion-Secret"]["in"] == "header"
    assert {"deletionSecret": []} in delete["security"]
    for path, item in spec["paths"].items():
        if path.startswith("/stats/"):
            operation = item["get"]
            days = next(p for p in operation["parameters"] if p["name"] == "days")
            assert days["schema"]["type"] == "integer", path
            ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert {"window_days", "k_anonymity", "generated_at"} <= set(ok["required"]), path
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}], path
    # Wrong admin keys are throttled: every operation that takes the key documents the 429.
    admin = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if {"bearer": []} in operation.get("security", [])
    ]
    assert len(admin) == len(spec["paths"]) - 4  # all but /, /submit, /metrics and /health
    for path, method, operation in admin:
        throttled = operation["responses"]["429"]
        assert "Retry-After" in throttled["headers"], (method, path)
        assert "ADMIN_ATTEMPTS_" in throttled["description"], (method, path)
    # Browser pages are not API operations.
    assert not [p for p in spec["paths"] if p.startswith(("/dashboard", "/docs", "/community"))]


@pytest.fixture
async def running(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    server = Server(database_url, tmp_path / "server.log")
    # Limits well above what the run sends, so that 429 shows only where it is meant to: the
    # negative-auth checks send hundreds of wrong admin keys from one address, more than a
    # person guessing is allowed (ADMIN_ATTEMPTS_*; tests/aggregation/test_admin_key_throttle.py).
    await server.start(
        RATE_LIMIT_PER_HOUR="10",
        ADDRESS_RATE_LIMIT_PER_MINUTE="0",
        ADMIN_ATTEMPTS_PER_CLIENT="1000000",
        ADMIN_ATTEMPTS_TOTAL="1000000",
    )
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    running: str, tmp_path: Path
) -> None:
    """Every operation, every check, every phase, against the real server over HTTP."""
    command = [
        str(ST),
        "--config-file",
        str(CONFIG),
        "run",
        f"{running}/openapi.json",
        "--checks",
        "all",
        "--seed",
        "1",
        "--no-color",
    ]
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
        env={**os.environ, "API_KEY": ADMIN_KEY},
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12_000:]
    assert "No issues found" in output or " passed" in output, output[-3000:]
