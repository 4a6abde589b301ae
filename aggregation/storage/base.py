"""The repository interface every storage backend implements, and the records it exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

# (dimension, key, installations, total): one installation's share of a rollup bucket.
Contribution = tuple[str, str, int, int]
Outcome = Literal["accepted", "duplicate", "rate_limited"]


class StorageError(RuntimeError):
    """The database could not do what was asked (down, locked, out of space)."""


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    """One validated, normalised submission ready to be stored (no IP, no request data)."""

    submission_id: str
    installation_id: str
    period_start_day: int  # proleptic ordinal of the UTC day (date.toordinal())
    period_end_day: int
    received_day: int
    schema_version: str
    app_version: str
    deployment_mode: str
    country_code: str
    deletion_key_hash: str | None
    payload: str
    contributions: tuple[Contribution, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one submission of a group-committed batch."""

    outcome: Outcome
    submission_id: str
    retry_after: int = 0


@dataclass(frozen=True, slots=True)
class RollupRow:
    """A summed rollup bucket."""

    dim: str
    key: str
    installations: int
    total: int


@dataclass(frozen=True, slots=True)
class WeeklyRow:
    """A rollup bucket of one week (week = ordinal of its Monday)."""

    week: int
    dim: str
    key: str
    installations: int
    total: int


@dataclass(frozen=True, slots=True)
class DailyActivity:
    """Submissions received and installations first seen on one day."""

    day: int
    submissions: int
    new_installations: int


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Rows removed by one retention purge."""

    submissions: int
    installations: int


@runtime_checkable
class Repository(Protocol):
    """Storage for the aggregation server; SQLite and PostgreSQL implement it."""

    backend: str

    async def close(self) -> None:
        """Release connections; pending writes are finished first."""

    async def ping(self) -> None:
        """Run a real query; raises StorageError when the database does not answer."""

    async def schema_version(self) -> int:
        """The highest applied migration."""

    async def write_batch(
        self, records: list[SubmissionRecord], *, rate_limit_per_hour: int, now_hour: int
    ) -> list[WriteResult]:
        """Store many submissions in ONE transaction; results in input order.

        Per installation at most `rate_limit_per_hour` attempts are accepted per hour
        (`now_hour` = hours since the epoch); one row per (installation, period start).
        """

    async def stored_submission_id(self, installation_id: str, period_start_day: int) -> str | None:
        """The submission id stored for one installation's period, if any."""

    async def deletion_key_hash(self, installation_id: str) -> tuple[bool, str | None]:
        """(installation known?, stored sha256 hex of its deletion secret)."""

    async def delete_installation(self, installation_id: str) -> int:
        """Delete every row of one installation and its share of the rollups; rows deleted."""

    async def purge(self, *, before_day: int, now_hour: int) -> PurgeResult:
        """Delete submissions whose period ended before `before_day` and stale rate windows."""

    async def latest_rollup(self, since_day: int) -> list[RollupRow]:
        """Buckets over each installation's latest submission whose period ends >= since_day."""

    async def weekly_rollup(self, since_week: int, dims: tuple[str, ...]) -> list[WeeklyRow]:
        """Per-week buckets of the given dimensions since `since_week`."""

    async def daily_activity(self, since_day: int) -> list[DailyActivity]:
        """Per-day submission counts since `since_day`."""

    async def totals(self) -> tuple[int, int]:
        """(installations known, submissions stored)."""

    async def count_submissions(self, installation_id: str | None = None) -> int:
        """Stored submissions, of one installation or all."""

    async def submission_ids(self) -> set[str]:
        """Every stored submission id (tests and consistency checks)."""
