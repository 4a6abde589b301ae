"""Helpers for the submitter tests: a settable clock and a small real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from printernizer_usage_core.models import parse_submission
from pydantic import ValidationError


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(predicate: Callable[[], Any], limit: float = 5.0) -> None:
    """Poll `predicate` (sync or async) until it is truthy; fails the test on timeout."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@dataclass
class Scripted:
    """One scripted answer: a status (with headers), and/or a delay before/after storing."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Store the submission first, then stall: the client times out although the server has it.
    store_then_delay: bool = False
    gate: asyncio.Event | None = None


class SimServer:
    """A tiny aggregation server (aiohttp.web) for failure modes the real one cannot be told
    to produce on cue: scripted 429/503/5xx/422, stalls and outages."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.rows: dict[str, dict[str, Any]] = {}
        self.hashes: dict[str, str] = {}
        self.bodies: list[bytes] = []
        self.requests: list[tuple[str, str, int]] = []
        self.script: list[Scripted] = []
        self.received = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def submits(self) -> list[tuple[str, str, int]]:
        """Every POST /submit with its answer."""
        return [r for r in self.requests if r[0] == "POST"]

    def rows_for(self, installation_id: str) -> list[dict[str, Any]]:
        """Stored reports of one installation."""
        return [
            row
            for row in self.rows.values()
            if row["installation"]["installation_id"] == installation_id
        ]

    async def start(self) -> None:
        """Listen on 127.0.0.1:port (the same port again after a stop)."""
        app = web.Application()
        app.router.add_post("/submit", self._submit)
        app.router.add_delete("/installation/{installation_id}", self._delete)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Stop listening: connections are refused, as when the server is down."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        self.received.set()
        step = self.script.pop(0) if self.script else Scripted()
        if step.gate is not None:
            await step.gate.wait()
        if step.delay and not step.store_then_delay:
            await asyncio.sleep(step.delay)
        if step.status is not None:
            self.requests.append(("POST", request.path, step.status))
            return web.json_response(
                {"error": "scripted"}, status=step.status, headers=step.headers
            )
        response = self._store(body)
        if step.store_then_delay:
            await asyncio.sleep(step.delay)
        self.requests.append(("POST", request.path, response.status))
        return response

    def _store(self, body: bytes) -> web.Response:
        try:
            report = parse_submission(json.loads(body))
        except (ValueError, ValidationError) as err:
            return web.json_response({"error": "validation", "detail": str(err)}, status=422)
        key = str(report.submission_id)
        if key in self.rows:
            return web.json_response({"status": "duplicate"}, status=200)
        self.rows[key] = report.model_dump(mode="json")
        if report.deletion_key_hash:
            self.hashes[str(report.installation.installation_id)] = report.deletion_key_hash
        return web.json_response({"status": "accepted"}, status=201)

    async def _delete(self, request: web.Request) -> web.Response:
        installation_id = request.match_info["installation_id"]
        secret = request.headers.get("X-Deletion-Secret", "")
        step = self.script.pop(0) if self.script else Scripted()
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status is not None:
            self.requests.append(("DELETE", request.path, step.status))
            return web.json_response(
                {"error": "scripted"}, status=step.status, headers=step.headers
            )
        expected = self.hashes.get(installation_id)
        if expected is None:
            status = 404
        elif hashlib.sha256(secret.encode()).hexdigest() != expected:
            status = 403
        else:
            for key in [
                k
                for k, row in self.rows.items()
                if row["installation"]["installation_id"] == installation_id
            ]:
                del self.rows[key]
            del self.hashes[installation_id]
            status = 204
        self.requests.append(("DELETE", request.path, status))
        return web.Response(status=status)
