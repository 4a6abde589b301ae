"""Storage backends behind one repository interface, chosen by DATABASE_URL."""

from __future__ import annotations

from .base import Repository, StorageError


async def open_repository(database_url: str) -> Repository:
    """Open (and migrate) the backend that `database_url` names."""
    if database_url.startswith("sqlite://"):
        from .sqlite import SqliteRepository

        return await SqliteRepository.open(database_url)
    if database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresRepository

        return await PostgresRepository.open(database_url)
    raise StorageError("DATABASE_URL must start with sqlite:/// or postgresql://")


__all__ = ["Repository", "StorageError", "open_repository"]
