"""Analytics reads and writes beyond the rollups: exact report periods, distinct installations
behind folded buckets, alerts already sent and the last delivery per channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .base import Repository
from .signin import _sql
from .sql import Execute, Fetch, Work


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One stored submission as a report period needs it."""

    installation_id: str
    period_start_day: int
    period_end_day: int
    payload: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """The last attempt to deliver on one channel (e-mail or webhook)."""

    channel: str
    attempted_at: int
    ok: bool
    subject: str
    detail: str


async def reports_ending_in(
    repository: Repository, start: int, end: int, *, page: int = 2000
) -> AsyncIterator[list[StoredReport]]:
    """Submissions whose last covered day falls in [start, end) (period_end_day is exclusive),
    in pages that each hold every report of their installations, ordered by installation and
    then period (so a month of a large fleet never sits in memory at once)."""
    after = ""
    while True:
        async with _sql(repository)._read() as tx:
            rows = await tx.fetch(
                "SELECT installation_id, period_start_day, period_end_day, payload "
                "FROM submissions WHERE period_end_day > ? AND period_end_day <= ? "
                "AND installation_id > ? "
                "ORDER BY installation_id, period_end_day, period_start_day LIMIT ?",
                [start, end, after, page],
            )
        reports = [StoredReport(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]
        if len(reports) < page:
            if reports:
                yield reports
            return
        # The last installation may continue on the next page: leave it for that page.
        last = reports[-1].installation_id
        complete = [report for report in reports if report.installation_id != last]
        if not complete:  # one installation with a page of reports: more than a period holds
            complete = reports
        yield complete
        after = complete[-1].installation_id


async def first_report_counts(repository: Repository, start: int, end: int) -> tuple[int, int]:
    """(installations whose first stored report ends in [start, end), installations with a
    report ending before `end`)."""
    async with _sql(repository)._read() as tx:
        new = await tx.fetch(
            "SELECT COUNT(*) FROM (SELECT installation_id FROM submissions "
            "GROUP BY installation_id HAVING MIN(period_end_day) > ? "
            "AND MIN(period_end_day) <= ?) firsts",
            [start, end],
        )
        known = await tx.fetch(
            "SELECT COUNT(DISTINCT installation_id) FROM submissions WHERE period_end_day <= ?",
            [end],
        )
    return int(new[0][0]), int(known[0][0])


async def installations_with_any(
    repository: Repository, since_day: int, dim: str, keys: Sequence[str]
) -> int:
    """Installations whose latest report (ending on or after `since_day`) has any of `keys` in
    `dim`: the installations behind a folded 'other' bucket, each counted once.

    Reads latest_keys (kept by the write path, one row per installation and key) through its
    primary key, so the cost follows the installations behind the folded keys, not the fleet.
    """
    if not keys:
        return 0
    sql = _sql(repository)
    frag, args = sql._in(list(keys))
    async with sql._read() as tx:
        rows = await tx.fetch(
            "SELECT COUNT(DISTINCT k.installation_id) FROM latest_keys k "
            "JOIN installation_latest l ON l.installation_id = k.installation_id "
            f"WHERE k.dim = ? AND k.key {frag} AND l.period_end_day >= ?",
            [dim, *args, since_day],
        )
    return int(rows[0][0])


def _claim(alert_key: str, now: int, channels: str) -> Work[bool]:
    seen = yield Fetch("SELECT 1 FROM alerts_sent WHERE alert_key = ?", [alert_key])
    if seen:
        return False
    yield Execute(
        "INSERT INTO alerts_sent (alert_key, first_sent, channels) VALUES (?, ?, ?)",
        [alert_key, now, channels],
    )
    return True


async def claim_alert(repository: Repository, alert_key: str, *, now: int, channels: str) -> bool:
    """Record that an alert is being sent; False when it was sent before (by any process)."""
    return await _sql(repository)._run_write(_claim(alert_key, now, channels))


async def alerts_sent(repository: Repository) -> list[tuple[str, int, str]]:
    """(alert key, first sent, channels) of every alert sent, newest first."""
    async with _sql(repository)._read() as tx:
        rows = await tx.fetch(
            "SELECT alert_key, first_sent, channels FROM alerts_sent ORDER BY first_sent DESC"
        )
    return [(r[0], int(r[1]), r[2]) for r in rows]


def _record(delivery: Delivery) -> Work[None]:
    yield Execute(
        "INSERT INTO deliveries (channel, attempted_at, ok, subject, detail) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET "
        "attempted_at = excluded.attempted_at, ok = excluded.ok, subject = excluded.subject, "
        "detail = excluded.detail",
        [
            delivery.channel,
            delivery.attempted_at,
            int(delivery.ok),
            delivery.subject,
            delivery.detail,
        ],
    )


async def record_delivery(repository: Repository, delivery: Delivery) -> None:
    """Remember the latest delivery attempt of a channel (shared by every server process)."""
    await _sql(repository)._run_write(_record(delivery))


async def last_delivery(repository: Repository, channel: str) -> Delivery | None:
    """The latest delivery attempt of a channel, if any."""
    async with _sql(repository)._read() as tx:
        rows = await tx.fetch(
            "SELECT channel, attempted_at, ok, subject, detail FROM deliveries WHERE channel = ?",
            [channel],
        )
    if not rows:
        return None
    r = rows[0]
    return Delivery(r[0], int(r[1]), bool(r[2]), r[3], r[4])


async def active_in(repository: Repository, start: int, end: int) -> int:
    """Installations with a report whose last covered day falls in [start, end)."""
    async with _sql(repository)._read() as tx:
        rows = await tx.fetch(
            "SELECT COUNT(DISTINCT installation_id) FROM submissions "
            "WHERE period_end_day > ? AND period_end_day <= ?",
            [start, end],
        )
    return int(rows[0][0])


def _release(alert_key: str) -> Work[None]:
    yield Execute("DELETE FROM alerts_sent WHERE alert_key = ?", [alert_key])


async def release_alert(repository: Repository, alert_key: str) -> None:
    """Forget a claimed alert whose every delivery failed, so the next check tries again."""
    await _sql(repository)._run_write(_release(alert_key))
