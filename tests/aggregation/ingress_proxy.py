"""A stand-in for Home Assistant's ingress proxy: the prefix, the headers, the source address.

Like the Supervisor, it serves /api/hassio_ingress/<token>/<path> by forwarding <path> to the
add-on with `X-Ingress-Path` and the remote-user headers, connecting from its own address
(a second loopback address plays 172.30.32.2). "/" is a page that frames the panel, as Home
Assistant's frontend does. Every other path is answered 404 and remembered as an escape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

TOKEN = "fG3k9QxZ_w-7Lm2pR8sT0vY4bN6cJ1hD5eA"
PREFIX = f"/api/hassio_ingress/{TOKEN}"
USER_HEADERS = {
    "X-Remote-User-Id": "3b6f1c0e9d2a4f7b8c5e1d0a9f8e7d6c",
    "X-Remote-User-Name": "maintainer",
    "X-Remote-User-Display-Name": "The Maintainer",
}
# Hop-by-hop headers a proxy must not pass on, and what aiohttp re-computes itself.
_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length", "content-encoding",
}  # fmt: skip
FRAME_PAGE = f"""<!doctype html>
<html><head><title>Home Assistant</title><link rel="icon" href="data:,"></head>
<body><iframe id="panel" title="Printernizer usage" src="{PREFIX}/dashboard"
  style="width:1400px;height:2400px;border:0"></iframe></body></html>"""


@dataclass
class IngressProxy:
    """The proxy; `start()` returns its base URL (it listens on 127.0.0.1)."""

    upstream: str
    source: str = "127.0.0.2"
    send_user_headers: bool = True
    seen: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        """Listen on a free 127.0.0.1 port and return http://127.0.0.1:<port>."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(self.source, 0), force_close=True),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        app = web.Application()
        app.router.add_get("/", self._frame_page)
        app.router.add_route("*", PREFIX + "/{tail:.*}", self._forward)
        app.router.add_route("*", "/{anything:.*}", self._escape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening and close the upstream connections."""
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _frame_page(self, request: web.Request) -> web.Response:
        self.seen.append(request.path_qs)
        return web.Response(text=FRAME_PAGE, content_type="text/html")

    async def _escape(self, request: web.Request) -> web.Response:
        self.seen.append(request.path_qs)
        self.escaped.append(request.path_qs)
        return web.Response(status=404, text="outside the ingress path")

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path_qs)
        assert self._session is not None
        target = f"{self.upstream}/{request.match_info['tail']}"
        if request.query_string:
            target += f"?{request.query_string}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        headers["X-Ingress-Path"] = PREFIX
        headers["X-Forwarded-For"] = request.remote or ""
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        if self.send_user_headers:
            headers.update(USER_HEADERS)
        async with self._session.request(
            request.method,
            target,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            response = web.Response(status=upstream.status, body=body)
            for name, value in upstream.headers.items():
                if name.lower() not in _HOP and name.lower() != "content-type":
                    response.headers.add(name, value)
            if "Content-Type" in upstream.headers:
                response.headers["Content-Type"] = upstream.headers["Content-Type"]
            if "Content-Encoding" in upstream.headers:
                response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            return response
