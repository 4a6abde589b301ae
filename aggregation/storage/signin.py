"""Dashboard sign-in state in the shared database: server-side sessions and login attempts.

Every server process (WORKERS=N) and both backends see the same rows, so a logout ends a
session everywhere and a login throttle counts every process's attempts. Rows are short-lived:
a session lives until it expires or is ended, an attempt counter for one window only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .base import Repository
from .sql import Execute, Fetch, Many, SqlRepository, Work


@dataclass(frozen=True, slots=True)
class Bucket:
    """One login-attempt counter: its key (never an address) and the attempts it allows."""

    key: str
    limit: int


def _sql(repository: Repository) -> SqlRepository:
    if not isinstance(repository, SqlRepository):
        raise TypeError(f"sign-in state needs a SQL repository, not {type(repository).__name__}")
    return repository


def _purge_expired(now: int, window_start: int | None = None) -> Work[None]:
    yield Execute("DELETE FROM admin_sessions WHERE expires_at <= ?", [now])
    if window_start is not None:
        yield Execute("DELETE FROM login_attempts WHERE window_start < ?", [window_start])


def _create(session_hash: str, expires_at: int, now: int) -> Work[None]:
    yield from _purge_expired(now)
    yield Execute(
        "INSERT INTO admin_sessions (session_hash, expires_at) VALUES (?, ?)",
        [session_hash, expires_at],
    )


async def create_session(
    repository: Repository, session_hash: str, *, expires_at: int, now: int
) -> None:
    """Record a new session (and drop expired ones in the same transaction)."""
    await _sql(repository)._run_write(_create(session_hash, expires_at, now))


def _end(session_hash: str) -> Work[int]:
    deleted: int = yield Execute(
        "DELETE FROM admin_sessions WHERE session_hash = ?", [session_hash]
    )
    return deleted


async def end_session(repository: Repository, session_hash: str) -> bool:
    """Forget a session for every process; whether it was still recorded."""
    return await _sql(repository)._run_write(_end(session_hash)) > 0


async def session_alive(repository: Repository, session_hash: str, *, now: int) -> bool:
    """Whether a session is recorded and not expired (one indexed read)."""
    async with _sql(repository)._read() as tx:
        rows = await tx.fetch(
            "SELECT 1 FROM admin_sessions WHERE session_hash = ? AND expires_at > ?",
            [session_hash, now],
        )
    return bool(rows)


def _over(counts: dict[str, int], buckets: Sequence[Bucket]) -> Bucket | None:
    return next((b for b in buckets if counts.get(b.key, 0) >= b.limit), None)


def _counts_query(buckets: Sequence[Bucket], window_start: int) -> Fetch:
    keys = " OR ".join("bucket = ?" for _ in buckets)
    return Fetch(
        f"SELECT bucket, attempts FROM login_attempts WHERE window_start = ? AND ({keys})",
        [window_start, *(b.key for b in buckets)],
    )


def _reserve(buckets: Sequence[Bucket], window_start: int) -> Work[Bucket | None]:
    rows = yield _counts_query(buckets, window_start)
    full = _over({str(key): int(n) for key, n in rows}, buckets)
    if full is not None:
        return full
    yield Many(
        "INSERT INTO login_attempts (bucket, window_start, attempts) VALUES (?, ?, ?) "
        "ON CONFLICT (bucket, window_start) DO UPDATE SET "
        "attempts = login_attempts.attempts + excluded.attempts",
        [(b.key, window_start, 1) for b in buckets],
    )
    yield Execute("DELETE FROM login_attempts WHERE window_start < ?", [window_start])
    return None


async def full_bucket(
    repository: Repository, buckets: Sequence[Bucket], *, window_start: int
) -> Bucket | None:
    """The first bucket that allows no more attempts in this window (one read, no write)."""
    async with _sql(repository)._read() as tx:
        query = _counts_query(buckets, window_start)
        rows = await tx.fetch(query.sql, query.args)
    return _over({str(key): int(n) for key, n in rows}, buckets)


async def reserve_attempt(
    repository: Repository, buckets: Sequence[Bucket], *, window_start: int
) -> Bucket | None:
    """Count one login attempt in every bucket, or none when one is full: the full bucket.

    A read answers an attacker who is already throttled without a write; otherwise the check
    and the count run in one serialised write transaction, exact across processes.
    """
    full = await full_bucket(repository, buckets, window_start=window_start)
    if full is not None:
        return full
    return await _sql(repository)._run_write(_reserve(buckets, window_start))


async def purge_expired(repository: Repository, *, now: int, window_start: int) -> None:
    """Delete expired sessions and attempt counters of past windows."""
    await _sql(repository)._run_write(_purge_expired(now, window_start))
