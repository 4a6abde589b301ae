"""A lean HTTP/1.1 load generator (uvloop, raw protocol): closed loop and open loop.

aiohttp spends about as much CPU per request as the server does, and the load generator
shares the machine's two cores with the server; this one sends pre-built requests over
keep-alive connections and parses only the status line and Content-Length.

Open loop measures each latency from the request's *scheduled* start, so a stalled server
cannot hide its queueing delay (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import uvloop


def build_request(host: str, path: str, body: bytes) -> bytes:
    """One POST with a JSON body, keep-alive."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Conn(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time."""

    def __init__(self, lost: asyncio.Future[None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.lost = lost
        # The server said "Connection: close" (hypercorn does after keep_alive_max_requests
        # answers on one connection): the next request needs a new connection.
        self.last_answer = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in bytes(self.buffer[:end]).lower().split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line == b"connection: close":
                self.last_answer = True
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(0)
        if not self.lost.done():
            self.lost.set_result(None)

    async def request(self, data: bytes) -> int:
        """Send one request; its status (0 when the connection broke)."""
        assert self.transport is not None
        if self.transport.is_closing():
            return 0
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


@dataclass
class Result:
    """Latencies (seconds), status counts and elapsed time of one run."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    # Requests sent again on a new connection because the server had closed an idle
    # keep-alive one as they were sent (what HTTP clients do for an idempotent request).
    resent: int = 0

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def _connect(host: str, port: int) -> _Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: _Conn(loop.create_future()), host, port)
    return conn


async def _send(
    conn: _Conn, data: bytes, host: str, port: int, result: Result
) -> tuple[_Conn, int]:
    """Send on `conn`; once more on a new connection if the server had just closed it."""
    if conn.last_answer:
        conn = await _connect(host, port)
    status = await conn.request(data)
    if status == 0:
        result.resent += 1
        conn = await _connect(host, port)
        status = await conn.request(data)
    return conn, status


async def closed_loop(host: str, port: int, requests: Sequence[bytes], concurrency: int) -> Result:
    """`concurrency` connections, each sending the next request as soon as it has an answer."""
    result = Result()
    conns = [await _connect(host, port) for _ in range(concurrency)]
    todo = iter(requests)

    async def client(conn: _Conn) -> None:
        for data in todo:
            started = time.perf_counter()
            conn, status = await _send(conn, data, host, port, result)
            result.latencies.append(time.perf_counter() - started)
            result.count(status)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    result.elapsed = time.perf_counter() - started
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return result


async def open_loop(host: str, port: int, requests: Sequence[bytes], rate: float) -> Result:
    """Requests start at a fixed rate whatever the answers; idle connections are reused."""
    result = Result()
    idle: deque[_Conn] = deque()
    tasks: set[asyncio.Task[None]] = set()

    async def one(data: bytes, scheduled: float) -> None:
        while idle and (idle[-1].transport is None or idle[-1].transport.is_closing()):
            idle.pop()  # closed by the server's keep-alive timeout
        conn = idle.pop() if idle else await _connect(host, port)
        conn, status = await _send(conn, data, host, port, result)
        result.latencies.append(time.perf_counter() - scheduled)
        result.count(status)
        if status:
            idle.append(conn)

    loop_start = time.perf_counter()
    for n, data in enumerate(requests):
        scheduled = loop_start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(data, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - loop_start
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    return result


def main() -> None:
    """Run one load from the command line; writes the result as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="http://host:port")
    parser.add_argument("bodies", type=Path, help="a file with one JSON body per line")
    parser.add_argument("out", type=Path, help="where to write the result (JSON)")
    parser.add_argument("--path", default="/submit")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--concurrency", type=int, help="closed loop with N connections")
    group.add_argument("--rate", type=float, help="open loop at N requests/s")
    args = parser.parse_args()
    host, _, port = args.url.removeprefix("http://").rstrip("/").partition(":")
    requests = [
        build_request(f"{host}:{port}", args.path, line.rstrip(b"\n"))
        for line in args.bodies.read_bytes().splitlines()
        if line.strip()
    ]
    if args.concurrency:
        load = closed_loop(host, int(port), requests, args.concurrency)
    else:
        load = open_loop(host, int(port), requests, args.rate)
    result = uvloop.run(load)
    args.out.write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
