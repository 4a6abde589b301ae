"""The commands docs/AGGREGATION.md prints work as printed against `make run`'s stack."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Process, free_port

ROOT = Path(__file__).resolve().parents[2]


def shell_block(doc: str, heading: str) -> str:
    """The first ```sh block after `heading` in a doc."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    found = re.search(r"```sh\n(.*?)```", after, re.S)
    assert found, f"no sh block after {heading!r} in {doc}"
    return found.group(1)


@pytest.fixture(scope="module")
def make_run_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    """What `make run SERVICE_PORT=… AGG_PORT=…` starts (the demo stack), on free ports."""
    home = tmp_path_factory.mktemp("make-run")
    service_port, server_port = free_port(), free_port()
    stack = Process(
        [
            sys.executable,
            "-m",
            "printernizer_usage_service.demo_stack",
            "--port",
            str(service_port),
            "--server-port",
            str(server_port),
            "--data-dir",
            str(home / "data"),
        ],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        stack.wait_for_line("Press Ctrl-C to stop.")
        yield service_port, server_port, home
    finally:
        stack.stop()


def test_the_aggregation_examples_run_as_printed(make_run_stack: tuple[int, int, Path]) -> None:
    service_port, server_port, home = make_run_stack
    script = shell_block("docs/AGGREGATION.md", "### Examples")
    # Only the ports differ from the doc (the test's stack cannot take 8080 and 8765).
    script = script.replace("localhost:8080", f"localhost:{server_port}")
    script = script.replace("localhost:8765", f"localhost:{service_port}")
    script = script.replace(".venv/bin/python", sys.executable)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        check=False,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert '"status":"accepted"' in done.stdout, done.stdout
    assert '"rows_deleted":1' in done.stdout.replace(" ", ""), done.stdout
    assert (home / "stats.csv").read_text().startswith("section,key,installations,value")
    assert '"installations"' in done.stdout  # the overview answered
