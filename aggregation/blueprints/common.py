"""Small helpers the blueprints share: app services, the client address, storage failures."""

from __future__ import annotations

from collections.abc import Awaitable

from quart import current_app, request

from .. import intake
from ..ingest import GroupCommitWriter
from ..metrics import Metrics
from ..ratelimit import AddressLimiter
from ..settings import Settings
from ..stats import StatsService
from ..storage.base import Repository, StorageError


def settings() -> Settings:
    """The app's settings."""
    value: Settings = current_app.config["SETTINGS"]
    return value


def repository() -> Repository:
    """The open repository."""
    value: Repository = current_app.config["REPOSITORY"]
    return value


def writer() -> GroupCommitWriter:
    """The group-commit writer."""
    value: GroupCommitWriter = current_app.config["WRITER"]
    return value


def metrics() -> Metrics:
    """The app's metrics."""
    value: Metrics = current_app.config["METRICS"]
    return value


def stats() -> StatsService:
    """The stats service."""
    value: StatsService = current_app.config["STATS"]
    return value


def address_limiter() -> AddressLimiter:
    """The in-memory per-address limiter."""
    value: AddressLimiter = current_app.config["ADDRESS_LIMITER"]
    return value


def client_address() -> str | None:
    """The peer address, used only as an in-memory rate-limit key (never stored or logged)."""
    # Every X-Forwarded-For line, in order: a proxy may add its own line after the client's.
    forwarded = ",".join(request.headers.getlist("X-Forwarded-For")) or None
    return intake.client_address(settings(), forwarded, request.remote_addr)


def check_address_limit() -> None:
    """Refuse (429 with Retry-After) a client address that sends too often (kept in memory)."""
    intake.check_address(address_limiter(), client_address())


async def guard_storage[T](work: Awaitable[T], operation: str) -> T:
    """Await `work`; a database that does not answer becomes a 503 with Retry-After."""
    try:
        return await work
    except StorageError as err:
        metrics().db_errors.labels(operation).inc()
        raise intake.storage_unavailable() from err
