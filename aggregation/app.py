"""App factory: wires settings, storage, group commit, blueprints, metrics and logging."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

from quart import Quart, Response, g, request
from quart_schema import QuartSchema
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from printernizer_usage_web.openapi_docs import docs_blueprint

from .blueprints import health, installations, metrics, stats, submit
from .errors import ApiError
from .fastpath import SubmitRoute
from .ingest import GroupCommitWriter
from .intake import Intake
from .logs import configure_logging, flush_logs
from .metrics import Metrics
from .observe import RequestObserver
from .openapi import ContractProvider
from .ratelimit import AddressLimiter
from .responses import json_response
from .retention import run_periodically
from .settings import Settings
from .stats import StatsService
from .storage import open_repository

_LOGGER = logging.getLogger(__name__)
VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> Quart:
    """Build the aggregation server (storage is opened in before_serving)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = Quart(__name__)
    app.config["SETTINGS"] = settings
    app.config["METRICS"] = Metrics()
    app.config["ADDRESS_LIMITER"] = AddressLimiter(settings.address_rate_limit_per_minute)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Quart's own deadline for a body (every route but the raw /submit, which keeps its own).
    app.config["BODY_TIMEOUT"] = settings.body_timeout_seconds
    app.config["SESSION_COOKIE_SECURE"] = settings.session_cookie_secure
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_NAME"] = "aggregation_session"
    app.secret_key = settings.secret_key
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # its viewer loads from a CDN; /docs is served offline instead
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": "Printernizer usage aggregation", "version": VERSION},
        openapi_provider_class=ContractProvider,  # security schemes and answers: openapi.py
    )
    for module in (health, submit, installations, stats, metrics):
        app.register_blueprint(module.blueprint)
    # Storage opens before (and closes after) anything the dashboard runs at start-up.
    _install_startup(app, settings)
    from .dashboard import blueprint as dashboard_blueprint

    app.register_blueprint(dashboard_blueprint)
    app.register_blueprint(
        docs_blueprint(
            "Printernizer usage aggregation",
            "Clients POST reports to /submit. /stats/*, the export and admin deletion need "
            "Authorization: Bearer <API_KEY> (or X-API-Key). Errors are JSON with a 4xx status.",
            back_link=("/dashboard", "Open the dashboard"),
        )
    )
    _install_shutdown(app)
    observer = RequestObserver(app.config["METRICS"], settings.allowed_origins)
    _install_request_hooks(app, observer)
    _install_error_handlers(app)
    intake = Intake(
        settings,
        app.config["METRICS"],
        app.config["ADDRESS_LIMITER"],
        lambda: app.config.get("WRITER"),
    )
    app.config["INTAKE"] = intake
    # The documented way to put ASGI middleware in front of Quart (app stays a Quart app).
    app.asgi_app = SubmitRoute(app.asgi_app, intake, observer, settings)  # type: ignore[method-assign]
    return app


def _install_startup(app: Quart, settings: Settings) -> None:
    @app.before_serving
    async def open_storage() -> None:
        repo = await open_repository(settings.database_url)
        app.config["REPOSITORY"] = repo
        m: Metrics = app.config["METRICS"]
        writer = GroupCommitWriter(
            repo,
            rate_limit_per_hour=settings.rate_limit_per_hour,
            max_batch=settings.max_batch,
            on_batch=m.observe_batch,
        )
        writer.start()
        app.config["WRITER"] = writer
        app.config["STATS"] = StatsService(repo, settings)
        app.config["PURGE_TASK"] = asyncio.create_task(
            run_periodically(repo, settings, metrics=m), name="aggregation-retention"
        )
        _settle_garbage_collector()
        _LOGGER.info("aggregation server ready (storage: %s)", repo.backend)


def _settle_garbage_collector() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often.

    Every request allocates thousands of short-lived objects; with the default threshold the
    collector ran every few requests and re-scanned the long-lived start-up objects
    (measured in docs/BENCHMARKS.md).
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(10_000, older, oldest)


def _install_shutdown(app: Quart) -> None:
    @app.after_serving
    async def close_storage() -> None:
        task = app.config.pop("PURGE_TASK", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app.config["INTAKE"].close()
        writer = app.config.pop("WRITER", None)
        if writer is not None:
            await writer.stop()
        repo = app.config.pop("REPOSITORY", None)
        if repo is not None:
            await repo.close()
        flush_logs()


def _install_request_hooks(app: Quart, observer: RequestObserver) -> None:
    @app.before_request
    async def start_timer() -> None:
        g.started = observer.started()

    @app.after_request
    async def finish(response: Response) -> Response:
        started = getattr(g, "started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            observer.finished(started, request.method, route, response.status_code)
        cors = observer.cors_headers(request.headers.get("Origin"))
        if cors:
            response.headers.update(cors)
            response.vary.add("Origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def _install_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def api_error(err: ApiError) -> Response:
        return json_response(err.body(), err.status, err.headers)

    @app.errorhandler(HTTPException)
    async def http_error(err: HTTPException) -> Response:
        headers: dict[str, str] = {}
        if isinstance(err, MethodNotAllowed) and err.valid_methods:
            headers["Allow"] = ", ".join(sorted(err.valid_methods))
        code = err.code or 500
        message = err.description or err.name
        if code == 413:
            limit = app.config["SETTINGS"].max_body_bytes
            message = f"body too large: at most {limit} bytes"
        return json_response({"error": message}, code, headers)

    @app.errorhandler(Exception)
    async def unexpected(err: Exception) -> Response:
        # Only the type: a message could quote request data.
        _LOGGER.error("unhandled %s on %s", type(err).__name__, request.url_rule)
        return json_response({"error": "internal error"}, 500)
