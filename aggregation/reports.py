"""Weekly and monthly summaries as Markdown and JSON: on demand, on a schedule, by e-mail."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

_LOGGER = logging.getLogger(__name__)

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("weekly", "monthly")
# Scheduled reports are written this long after their period ends, when late reports are in.
SCHEDULE_HOUR_UTC = 6
SCHEDULE_OFFSET = timedelta(hours=SCHEDULE_HOUR_UTC)
# The scheduler wakes at least this often, so a changed clock or a long sleep cannot skip a run.
MAX_SLEEP_S = 3600.0


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """The whole UTC days a report covers: [start, end)."""

    kind: Kind
    start: date
    end: date

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        """Human and file-name friendly: 2026-W47 or 2026-11."""
        if self.kind == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def stem(self) -> str:
        """File name without extension."""
        return f"{self.kind}-{self.label}"


def last_complete_period(kind: Kind, today: date) -> ReportPeriod:
    """The latest ISO week (Monday..Sunday) or calendar month that ended before `today`."""
    if kind == "weekly":
        end = today - timedelta(days=today.weekday())
        return ReportPeriod(kind, end - timedelta(days=7), end)
    end = today.replace(day=1)
    start = (end - timedelta(days=1)).replace(day=1)
    return ReportPeriod(kind, start, end)


def next_run(kind: Kind, now: datetime) -> datetime:
    """When the scheduler next writes a `kind` report (06:00 UTC after the period ends)."""
    today = now.astimezone(UTC).date()
    day = today - timedelta(days=today.weekday()) if kind == "weekly" else today.replace(day=1)
    while (moment := datetime.combine(day, time(SCHEDULE_HOUR_UTC), tzinfo=UTC)) <= now:
        day = (
            day + timedelta(days=7)
            if kind == "weekly"
            else (day + timedelta(days=32)).replace(day=1)
        )
    return moment


def scheduled_kinds(schedule: str) -> tuple[Kind, ...]:
    """The report kinds a REPORT_SCHEDULE value asks for."""
    if schedule == "both":
        return KINDS
    return tuple(kind for kind in KINDS if kind == schedule)


def ended_week_growth(installations: dict[str, Any], today: date) -> tuple[int, int, float | None]:
    """(last, previous, growth) of installations reporting in the last two weeks that ended.

    Reports for a week arrive after it, so a week still running is left out (on a Sunday the
    current week has no reports yet and would read as a 100 % drop).
    """
    weekly = [
        w["installations"]
        for w in installations["weekly_active"]
        if date.fromisoformat(w["week"]) + timedelta(days=7) <= today
    ]
    last = weekly[-1] if weekly else 0
    previous = weekly[-2] if len(weekly) > 1 else 0
    return last, previous, (round((last - previous) / previous, 4) if previous else None)


def rolling_period(kind: Kind, today: date) -> ReportPeriod:
    """The last 7 (weekly) or 30 (monthly) days up to today: what an on-demand report covers."""
    days = 7 if kind == "weekly" else 30
    return ReportPeriod(kind, today - timedelta(days=days), today)


async def build_report(
    stats: Any, kind: Kind, now: datetime, *, period: ReportPeriod | None = None
) -> dict[str, Any]:
    """A weekly or monthly summary from the stats service (JSON-able).

    The stats service answers for the last N days; a report is therefore built right after
    its period ends (the scheduler does that), or covers the last N days when asked for on
    demand (`period` None).
    """
    period = period or rolling_period(kind, now.astimezone(UTC).date())
    days = max(1, period.days)
    trend_days = 35 if kind == "weekly" else 91
    (
        summary,
        inst,
        modes,
        versions,
        geo,
        printers,
        features,
        errors,
        anomalies,
        migration,
    ) = await asyncio.gather(
        stats.summary(days),
        stats.installations(days),
        stats.deployment_modes(days),
        stats.versions(days),
        stats.geography(days),
        stats.printers(days),
        stats.features(days),
        stats.errors(days),
        stats.anomalies(max(trend_days, 63)),
        stats.version_migration(trend_days),
    )
    new_installations = sum(d["new_installations"] for d in inst["daily"])
    _, _, growth = ended_week_growth(inst, now.astimezone(UTC).date())
    submissions = sum(d["submissions"] for d in inst["daily"])
    return {
        "kind": kind,
        "period": {
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "days": days,
        },
        "generated_at": summary["generated_at"],
        "k_anonymity": summary["k_anonymity"],
        "headline": {
            "installations_total": summary["installations_total"],
            "active_in_period": summary["active_window"],
            "active_7d": summary["active_7d"],
            "active_30d": summary["active_30d"],
            "new_installations": new_installations,
            "submissions": submissions,
            "week_over_week_growth": growth,
            "latest_version": versions["latest"],
            "on_latest_share": versions["on_latest_share"],
            "countries": summary["countries"],
        },
        "deployment_modes": modes["modes"],
        "versions": versions["adoption"],
        "version_migration": [
            {"week": w["week"], "installations": w["installations"], "versions": w["versions"]}
            for w in migration["weeks"]
            if w["installations"]
        ],
        "geography": geo["countries"],
        "printers": {
            "printers": printers["printers"],
            "per_installation": printers["per_installation"],
            "types": printers["types"],
            "fleet_sizes": printers["fleet_sizes"],
        },
        "features": features["features"],
        "errors": errors["errors"],
        "anomalies": anomalies["anomalies"],
    }


def to_json(report: dict[str, Any]) -> str:
    """The report as pretty JSON text."""
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["_No data for this period._", ""]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = ["n/a" if cell is None else str(cell).replace("|", "\\|") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: headline figures, then one table per topic."""
    period, head = report["period"], report["headline"]
    growth = head["week_over_week_growth"]
    lines = [
        f"# Printernizer usage: {report['kind']} report {period['label']}",
        "",
        f"Period {period['start']} to {period['end']} (exclusive, {period['days']} days) · "
        f"generated {report['generated_at']} · buckets under {report['k_anonymity']} "
        "installations are folded into “other”.",
        "",
        "## Headline",
        "",
        *_table(
            ["Figure", "Value"],
            [
                ["Installations (all time)", head["installations_total"]],
                ["Active in the period", head["active_in_period"]],
                ["Active 7 days / 30 days", f"{head['active_7d']} / {head['active_30d']}"],
                ["New installations", head["new_installations"]],
                ["Submissions received", head["submissions"]],
                ["Week-over-week growth", _pct(growth)],
                [
                    "Latest version",
                    f"{head['latest_version'] or 'n/a'} ({_pct(head['on_latest_share'])})",
                ],
                ["Countries", head["countries"]],
            ],
        ),
        "## Anomalies",
        "",
    ]
    if report["anomalies"]:
        lines += [f"- **{a['kind']}** ({a['period']}): {a['message']}" for a in report["anomalies"]]
        lines.append("")
    else:
        lines += ["None: error rates, active installations and submission volume look normal.", ""]
    lines += [
        "## Deployment modes",
        "",
        *_table(
            ["Mode", "Installations", "Share"],
            [[m["mode"], m["installations"], _pct(m["share"])] for m in report["deployment_modes"]],
        ),
        "## Versions",
        "",
        *_table(
            ["Version", "Installations", "Share"],
            [[v["version"], v["installations"], _pct(v["share"])] for v in report["versions"]],
        ),
        "## Version migration (share of weekly reports)",
        "",
        *_table(
            ["Week", "Reports", "Versions"],
            [
                [
                    w["week"],
                    w["installations"],
                    ", ".join(f"{v['version']} {_pct(v['share'])}" for v in w["versions"]),
                ]
                for w in report["version_migration"]
            ],
        ),
        "## Geography",
        "",
        *_table(
            ["Country", "Installations", "Share"],
            [[c["country"], c["installations"], _pct(c["share"])] for c in report["geography"]],
        ),
        "## Printers",
        "",
        f"{report['printers']['printers']} printers, "
        f"{report['printers']['per_installation']} per installation.",
        "",
        *_table(
            ["Printer type", "Installations", "Printers"],
            [[t["key"], t["installations"], t["printers"]] for t in report["printers"]["types"]],
        ),
        *_table(
            ["Fleet size", "Installations", "Share"],
            [
                [f["key"], f["installations"], _pct(f["share"])]
                for f in report["printers"]["fleet_sizes"]
            ],
        ),
        "## Features",
        "",
        *_table(
            ["Feature", "Reporting", "Enabled"],
            [[f["feature"], f["reporting"], _pct(f["enabled_rate"])] for f in report["features"]],
        ),
        "## Errors",
        "",
        *_table(
            ["Error type", "Installations", "Occurrences", "Share of installations"],
            [
                [e["error_type"], e["installations"], e["occurrences"], _pct(e["share"])]
                for e in report["errors"]
            ],
        ),
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_report(directory: Path, stem: str, report: dict[str, Any], markdown: str) -> list[Path]:
    """Write `<stem>.json` and `<stem>.md` atomically (temp file + rename); returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in (
        (".json", to_json(report)),
        (".md", markdown),
    ):
        target = directory / f"{stem}{suffix}"
        temp = target.with_suffix(suffix + ".tmp")
        temp.write_text(text, encoding="utf-8")
        temp.replace(target)
        written.append(target)
    return written


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def email_configured(settings: Any) -> bool:
    """Whether SMTP delivery of reports is switched on (host, sender and recipient set)."""
    return bool(settings.smtp_host and settings.smtp_from and settings.report_email_to)


def build_email(settings: Any, subject: str, markdown: str, report: dict[str, Any]) -> EmailMessage:
    """The report as a plain-text mail (the Markdown) with the JSON attached."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(_recipients(settings))
    message.set_content(markdown)
    message.add_attachment(
        json.dumps(report, indent=2, sort_keys=True).encode(),
        maintype="application",
        subtype="json",
        filename=f"{subject.rsplit(' ', maxsplit=1)[-1]}.json",
    )
    return message


def _recipients(settings: Any) -> list[str]:
    return [part.strip() for part in settings.report_email_to.split(",") if part.strip()]


def send_email_blocking(settings: Any, message: EmailMessage, timeout: float = 30.0) -> None:
    """Deliver one message over SMTP (blocking; run it in a thread).

    Port 465 speaks TLS from the start; otherwise STARTTLS is used whenever the server offers
    it. A password is never sent over an unencrypted connection except to a loopback relay.
    """
    host, port = settings.smtp_host, settings.smtp_port
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if port == 465:
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        encrypted = port == 465
        if not encrypted and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            encrypted = True
        if settings.smtp_user:
            if not encrypted and not _is_loopback(host):
                raise smtplib.SMTPException(
                    "SMTP server offers no TLS; refusing to send the SMTP password in clear text"
                )
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message, to_addrs=_recipients(settings))


async def send_email(settings: Any, message: EmailMessage) -> bool:
    """Deliver a message without blocking the event loop; False (and a log line) on failure."""
    try:
        await asyncio.to_thread(send_email_blocking, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        _LOGGER.warning("report e-mail not delivered: %s", exc)
        return False
    return True


class ReportScheduler:
    """Writes the reports REPORT_SCHEDULE asks for into REPORTS_DIR, and mails them if set up.

    Each report is written once: a report whose files already exist is not redone, so
    restarts, several server processes sharing a directory, and catch-up after downtime all
    end with exactly one file per period.
    """

    def __init__(self, stats: Any, settings: Any) -> None:
        self._stats = stats
        self._settings = settings
        self._kinds = scheduled_kinds(settings.report_schedule)
        self._task: asyncio.Task[None] | None = None
        self.written: list[Path] = []

    @property
    def enabled(self) -> bool:
        """Whether any report is scheduled."""
        return bool(self._kinds)

    async def run_due(self, now: datetime | None = None) -> list[Path]:
        """Write every scheduled report whose period has ended and that is not on disk yet."""
        now = now or datetime.now(UTC)
        directory = Path(self._settings.reports_dir)
        written: list[Path] = []
        for kind in self._kinds:
            # Before 06:00 UTC the period that just ended is still waiting for late reports.
            period = last_complete_period(kind, (now - SCHEDULE_OFFSET).astimezone(UTC).date())
            if (directory / f"{period.stem}.json").exists():
                continue
            report = await build_report(self._stats, kind, now, period=period)
            markdown = render_markdown(report)
            paths = await asyncio.to_thread(write_report, directory, period.stem, report, markdown)
            written.extend(paths)
            _LOGGER.info("wrote %s report %s", kind, period.label)
            if email_configured(self._settings):
                subject = f"Printernizer {kind} report {period.label}"
                await send_email(
                    self._settings, build_email(self._settings, subject, markdown, report)
                )
        self.written.extend(written)
        return written

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failing report (database down, disk full) must not end the schedule.
                _LOGGER.exception("scheduled report failed; retrying at the next run")
            now = datetime.now(UTC)
            wake = min(next_run(kind, now) for kind in self._kinds)
            await asyncio.sleep(min(MAX_SLEEP_S, max(1.0, (wake - now).total_seconds())))

    def start(self) -> None:
        """Start the background task (no-op when nothing is scheduled)."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="report-scheduler"
            )

    async def stop(self) -> None:
        """Cancel the background task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
