"""The new user's stack: the console scripts the docs print, started as separate processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
ADMIN_KEY = "newuser-admin-key-0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A documented command as a process; its output is collected and watched for a line."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.proc.wait()
            self._changed.notify_all()

    def wait_for_line(self, text: str) -> None:
        """Return once a line contains `text`; fail only when the process ended without it.

        The process's own "listening" line is the readiness signal: no deadline, so a loaded
        machine only makes it slower (pytest-timeout bounds a hang).
        """
        with self._changed:
            while not any(text in line for line in self.lines):
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"{' '.join(self.argv)} exited with {self.proc.returncode}:\n"
                        + "\n".join(self.lines[-40:])
                    )
                self._changed.wait()

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass
class Answer:
    """One HTTP answer (header names in lower case)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """HTTP to one base URL by host name; records every answer and refuses any 5xx."""

    base: str
    seen: list[tuple[str, str, int]] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answer = Answer(response.status, _lower(response.headers), response.read())
        except urllib.error.HTTPError as err:
            answer = Answer(err.code, _lower(err.headers), err.read())
        self.seen.append((method, path, answer.status))
        assert answer.status < 500, f"{method} {path} answered {answer.status}: {answer.body!r}"
        return answer


@dataclass
class Stack:
    """The aggregation server and the standalone service, as a new user starts them."""

    server: Process
    service: Process
    server_url: str
    service_url: str
    data: Path

    def api(self) -> Client:
        return Client(f"{self.service_url}/api/v1/usage-stats")

    def root(self) -> Client:
        return Client(self.service_url)

    def admin(self) -> Client:
        return Client(self.server_url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """docs/AGGREGATION.md's `API_KEY=… printernizer-aggregation`, then the Dockerfile's CMD
    `printernizer-usage serve` (no flags: default version) sending to http://localhost:<port>."""
    home = tmp_path_factory.mktemp("newuser")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PRINTERNIZER_")}
    base_env.pop("DO_NOT_TRACK", None)
    server_port, service_port = free_port(), free_port()
    server = Process(
        [str(BIN / "printernizer-aggregation")],
        cwd=home,
        env={**base_env, "API_KEY": ADMIN_KEY, "HOST": "127.0.0.1", "PORT": str(server_port)},
    )
    service = None
    try:
        server.wait_for_line(f"Running on http://127.0.0.1:{server_port}")
        server_url = f"http://localhost:{server_port}"
        service = Process(
            [str(BIN / "printernizer-usage"), "serve"],
            cwd=home,
            env={
                **base_env,
                "PRINTERNIZER_USAGE_PORT": str(service_port),
                "PRINTERNIZER_USAGE_ENDPOINT": server_url,
            },
        )
        service.wait_for_line(f"Running on http://127.0.0.1:{service_port}")
        yield Stack(server, service, server_url, f"http://localhost:{service_port}", home)
    finally:
        codes = [process.stop() for process in (service, server) if process is not None]
        logs = "\n".join(p.output() for p in (service, server) if p is not None)
    assert "Traceback" not in logs, logs
    assert all(code in (0, -15) for code in codes), (codes, logs)
