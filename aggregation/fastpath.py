"""POST /submit straight from ASGI, in front of Quart: the one route that carries the load.

Quart's request and app contexts, routing and response machinery cost more than the whole
submission pipeline (measured in docs/BENCHMARKS.md). Every other request, and every other
method on /submit, goes on to Quart unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .intake import Intake, Reply, client_address, too_large
from .observe import RequestObserver
from .settings import Settings

if TYPE_CHECKING:
    from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope

_LOGGER = logging.getLogger(__name__)
ROUTE = "/submit"


class ClientGone(Exception):
    """The client disconnected before its body arrived."""


class SubmitRoute:
    """ASGI middleware: answers POST /submit itself, passes everything else to `inner`."""

    def __init__(
        self, inner: Any, intake: Intake, observer: RequestObserver, settings: Settings
    ) -> None:
        self.inner = inner  # the Quart app's own ASGI callable
        self._intake = intake
        self._observer = observer
        self._settings = settings

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _path(scope) != ROUTE:
            await self.inner(scope, receive, send)
            return
        await self._serve(scope, receive, send)

    async def _serve(
        self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        started = self._observer.started()
        status = 500
        try:
            headers = {
                name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
            }
            reply = await self._answer(scope, headers, receive)
            status = reply.status
            await _send_json(send, reply, self._observer.cors_headers(headers.get("origin")))
        except ClientGone:
            status = 499  # nginx's label for "client closed the request"; nothing to send
        except Exception as err:  # never a traceback to the client, never the message in logs
            _LOGGER.error("unhandled %s on %s", type(err).__name__, ROUTE)
            await _send_json(send, Reply(500, {"error": "internal error"}), {})
        finally:
            self._observer.finished(started, "POST", ROUTE, status)

    async def _answer(
        self, scope: HTTPScope, headers: dict[str, str], receive: ASGIReceiveCallable
    ) -> Reply:
        length = headers.get("content-length")
        content_length = int(length) if length is not None and length.isdigit() else None
        client = scope.get("client")
        peer = client[0] if client else None
        address = client_address(self._settings, headers.get("x-forwarded-for"), peer)

        deadline = self._settings.body_timeout_seconds

        async def read_body(limit: int) -> bytes:
            # One deadline for the whole body, not per chunk: a client that stalls (or
            # trickles a byte at a time) would otherwise hold its connection for ever.
            try:
                async with asyncio.timeout(deadline):
                    return await _read_all(receive, limit)
            except TimeoutError:
                raise body_timeout(deadline) from None

        return await self._intake.handle(headers.get, address, content_length, read_body)


def body_timeout(seconds: int) -> ApiError:
    """The 408 for a body that did not arrive within `seconds` (hypercorn then closes)."""
    return ApiError(
        408,
        f"request timeout: the body did not arrive within {seconds} seconds",
        reason="body_timeout",
    )


async def _read_all(receive: ASGIReceiveCallable, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _path(scope: HTTPScope) -> str:
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


async def _send_json(send: ASGISendCallable, reply: Reply, extra: dict[str, str]) -> None:
    body = reply.encoded()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    for name, value in (*reply.headers.items(), *extra.items()):
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    if extra:
        headers.append((b"vary", b"Origin"))
    start = {"type": "http.response.start", "status": reply.status, "headers": headers}
    await send(start)  # type: ignore[arg-type]
    await send({"type": "http.response.body", "body": body, "more_body": False})
