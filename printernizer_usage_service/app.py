"""App factory: the core service, the report sender and the API, page and health blueprints."""

from __future__ import annotations

import logging
from typing import Any

from printernizer_usage_core.service import UsageStatsService
from quart import Quart, Response
from quart_schema import QuartSchema, hide

from printernizer_usage_web.openapi_docs import docs_blueprint

from . import __version__
from .blueprints.api import api
from .blueprints.health import health
from .blueprints.page import page
from .blueprints.upstream import UpstreamFieldsProvider, upstream
from .config import ServiceConfig
from .delivery import Delivery
from .errors import register_error_handlers
from .runtime import EXTENSION_KEY, Runtime
from .security import check_host

_LOGGER = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20

# The page loads nothing from elsewhere; the policy makes that a promise.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _hide_static_files(app: Quart) -> None:
    """Static files (the page's CSS/JS) are not part of the API the OpenAPI document describes."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint == "static" or endpoint.endswith(".static"):

            async def send(*args: Any, _view: Any = view, **kwargs: Any) -> Any:
                return await _view(*args, **kwargs)

            app.view_functions[endpoint] = hide(send)


def create_app(config: ServiceConfig | None = None) -> Quart:
    """Build the Quart app for `config` (default: from the environment)."""
    config = config or ServiceConfig.from_env()
    app = Quart(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        # The stock doc viewers load from CDNs; the page links our own offline viewer instead.
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info={
            "title": "Printernizer usage statistics",
            "version": __version__,
            "description": (
                "Local API of the standalone usage-statistics service: record events, "
                "decide about sharing, preview, export and delete."
            ),
        },
        # The service token (--token), required for writes and identity reads when set. The
        # X-Printernizer-Token header works too; the document names the standard way only.
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        openapi_provider_class=UpstreamFieldsProvider,  # Printernizer's fields: upstream.py
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]

    config.data_dir.mkdir(parents=True, exist_ok=True)
    service = UsageStatsService(
        config.db_path,
        app_version=config.app_version,
        deployment_mode=config.deployment_mode,
        time_zone=config.time_zone,
        environ=config.environ,
    )
    state = Runtime(config=config, service=service, delivery=Delivery(service, config))
    app.extensions[EXTENSION_KEY] = state

    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(page)
    app.register_blueprint(upstream)
    app.register_blueprint(
        docs_blueprint(
            "Printernizer usage statistics",
            "Base path /api/v1/usage-stats/. Bodies are JSON. Errors answer with "
            '{"error": "...", "details": [...]} and a 4xx status. When a token is set (always '
            "beyond 127.0.0.1), writes and the reads that show the installation's identity "
            "(local, settings, preview, export) need Authorization: Bearer <token>.",
            back_link=("/", "Back to the statistics page"),
        )
    )
    register_error_handlers(app)
    _hide_static_files(app)

    @app.before_request
    async def _host_guard() -> None:
        check_host(config)

    @app.after_request
    async def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.before_serving
    async def _start() -> None:
        await service.start()
        await state.delivery.start()
        state.started.set()
        _LOGGER.info("usage statistics stored in %s", config.db_path)

    @app.after_serving
    async def _stop() -> None:
        state.started.clear()
        await state.delivery.stop()
        await service.stop()

    return app
