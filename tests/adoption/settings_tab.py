"""A stand-in for Printernizer's settings tab on the service's own origin, in Chromium."""

from __future__ import annotations

from typing import Any

from tests.service.conftest import RunningService


async def open_settings_tab(
    browser: Any, svc: RunningService, html: str, files: dict[str, bytes] | None = None
) -> Any:
    """A page at /printernizer/settings of the service's origin (so its fetches reach us).

    `files` maps paths under /printernizer/ to JavaScript served beside it; the page records
    its uncaught errors in `page.errors`.
    """
    context = await browser.new_context(locale="de-DE", accept_downloads=True)
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    base = f"http://localhost:{svc.config.port}/printernizer"
    await page.route(
        f"{base}/settings",
        lambda route: route.fulfill(body=html, content_type="text/html; charset=utf-8"),
    )
    for path, body in (files or {}).items():
        await page.route(f"{base}/{path}", _serve_script(body))
    await page.goto(f"{base}/settings")
    return page


def _serve_script(body: bytes) -> Any:
    # Playwright passes the request too when the handler takes two arguments: one only.
    async def handler(route: Any) -> None:
        await route.fulfill(body=body, content_type="text/javascript; charset=utf-8")

    return handler
