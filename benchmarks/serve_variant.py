"""The aggregation server with POST /submit served another way, to measure each layer's share.

    python benchmarks/serve_variant.py quart   # POST /submit through Quart's own route
    python benchmarks/serve_variant.py bare    # POST /submit read and answered 201, nothing else

Both run the real app (settings from the environment, storage, /health, lifespan) under the
same hypercorn configuration as `python -m aggregation` (one process, uvloop). `quart` takes
away the raw ASGI route in front of Quart, so the documented Quart view runs the same Intake;
`bare` answers POST /submit after reading its body, with the same headers and a body of the
same shape, and does nothing else: what is left is hypercorn's own cost per request.
Used by benchmarks/aggregation_cpu_profile.py (`--app`); not part of the server.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypercorn.asyncio import serve

from aggregation.app import create_app
from aggregation.fastpath import ROUTE, SubmitRoute
from aggregation.serving import hypercorn_config, uvloop
from aggregation.settings import Settings

_ANSWER = b'{"status":"accepted","submission_id":"00000000-0000-4000-8000-000000000000"}'
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_ANSWER)).encode()),
    (b"x-content-type-options", b"nosniff"),
]


class BareSubmit:
    """POST /submit: read the body, answer 201; everything else goes to the real app."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != ROUTE:
            await self.inner(scope, receive, send)
            return
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 201, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _ANSWER, "more_body": False})


async def _serve(variant: str) -> None:
    settings = Settings.from_env()
    app = create_app(settings)
    route = app.asgi_app
    assert isinstance(route, SubmitRoute)
    if variant == "quart":
        app.asgi_app = route.inner  # type: ignore[method-assign]
    else:
        app.asgi_app = BareSubmit(route.inner)  # type: ignore[method-assign]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, hypercorn_config(settings), shutdown_trigger=stop.wait)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("quart", "bare"):
        raise SystemExit("usage: serve_variant.py quart|bare")
    asyncio.run(_serve(sys.argv[1]), loop_factory=uvloop.new_event_loop if uvloop else None)
