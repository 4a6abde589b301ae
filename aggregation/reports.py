"""Weekly and monthly summaries as Markdown and JSON: on demand, on a schedule, by e-mail."""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import logging
import re
import smtplib
import ssl
import time as time_module
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from .background import Repeating
from .storage.analytics import Delivery, record_delivery
from .storage.base import StorageError

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
            return f"{year:04d}-W{week:02d}"
        return f"{self.start.year:04d}-{self.start.month:02d}"

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


class PeriodError(ValueError):
    """A report period that is malformed, not over yet, or older than the data kept."""


_WEEK_LABEL = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_LABEL = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(kind: str, label: str) -> ReportPeriod:
    """The ISO week (2026-W48) or calendar month (2026-11) a label names."""
    period: ReportPeriod | None = None
    try:
        if kind == "weekly" and (m := _WEEK_LABEL.match(label)):
            try:
                start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            except ValueError:
                raise PeriodError(f"{label} is not an ISO week") from None
            period = ReportPeriod("weekly", start, start + timedelta(days=7))
        elif kind == "monthly" and (m := _MONTH_LABEL.match(label)) and 1 <= int(m[2]) <= 12:
            start = date(int(m[1]), int(m[2]), 1)
            period = ReportPeriod("monthly", start, (start + timedelta(days=32)).replace(day=1))
        if period is not None:
            previous_period(period)  # a report compares with it: it must exist too
            return period
    except PeriodError:
        raise
    except (ValueError, OverflowError):
        # Year 0 or a period at the very edge of the calendar (year 1 or 9999): its end or
        # the period before it lies outside the dates Python (and any report) can hold.
        raise PeriodError(
            f"{label} is outside the range of dates a report can cover (0001-W02 to 9999-W51, "
            "0001-02 to 9999-11)"
        ) from None
    example = "2026-W48" if kind == "weekly" else "2026-11"
    raise PeriodError(f"a {kind} report names its period like {example}, not {label!r}")


def recent_periods(today: date, count: int = 12) -> list[ReportPeriod]:
    """The latest `count` complete weeks, then months, newest first (the dashboard's list)."""
    out: list[ReportPeriod] = []
    for kind in KINDS:
        period = last_complete_period(kind, today)
        for _ in range(count):
            out.append(period)
            period = previous_period(period)
    return out


def previous_period(period: ReportPeriod) -> ReportPeriod:
    """The week or month right before `period`."""
    return last_complete_period(period.kind, period.start)


def check_past(period: ReportPeriod, today: date, retention_days: int | None = None) -> None:
    """Refuse a period that has not ended (its report would not cover all of it), or one
    whose reports are past the retention period (it would read as empty)."""
    if period.end > today:
        raise PeriodError(f"{period.label} has not ended yet; reports cover whole periods only")
    if retention_days is not None and period.start < today - timedelta(days=retention_days):
        raise PeriodError(
            f"{period.label} is older than RETENTION_DAYS ({retention_days} days): "
            "its reports are no longer stored"
        )


def _weeks_in(period: ReportPeriod) -> int:
    """Weeks whose Sunday falls in the period (how the weekly rollup assigns reports)."""
    return sum(
        1 for offset in range(period.days) if (period.start + timedelta(days=offset)).weekday() == 6
    )


async def build_report(stats: Any, period: ReportPeriod, now: datetime) -> dict[str, Any]:
    """The report of one ISO week or calendar month, computed over exactly that period.

    A stored report counts for the period when the last day it covers falls inside it (the
    rule of the weekly trend); `now` only stamps the report.
    """
    start, end = period.start.toordinal(), period.end.toordinal()
    before = previous_period(period)
    current, previous_active, anomalies = await asyncio.gather(
        stats.period(start, end),
        stats.period_active(before.start.toordinal(), before.end.toordinal()),
        stats.anomalies(until_day=end, check_weeks=max(1, _weeks_in(period))),
    )
    active = current["active"]
    growth = round((active - previous_active) / previous_active, 4) if previous_active else None
    countries_named = [c for c in current["geography"] if c["country"] != "other"]
    return {
        "kind": period.kind,
        "period": {
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "last_day": (period.end - timedelta(days=1)).isoformat(),
            "days": period.days,
            "rule": "a stored report counts when the last day it covers falls in the period",
        },
        "generated_at": now.astimezone(UTC).replace(microsecond=0).isoformat(),
        "k_anonymity": current["k_anonymity"],
        "headline": {
            "installations_known": current["installations_known"],
            "active_in_period": active,
            "active_previous_period": previous_active,
            "growth_over_previous_period": growth,
            "new_installations": current["new_installations"],
            "submissions": current["submissions"],
            "latest_version": current["versions"]["latest"],
            "on_latest_share": current["versions"]["on_latest_share"],
            "countries_reporting": current["countries_reporting"],
            "countries_named": len(countries_named),
        },
        "deployment_modes": current["deployment_modes"],
        "versions": current["versions"]["adoption"],
        "version_migration": [w for w in current["version_migration"] if w["installations"]],
        "geography": current["geography"],
        "printers": {
            "printers": current["printers"]["printers"],
            "per_installation": current["printers"]["per_installation"],
            "types": current["printers"]["types"],
            "fleet_sizes": current["printers"]["fleet_sizes"],
        },
        "features": current["features"],
        "errors": current["errors"],
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


def _coverage(report: dict[str, Any]) -> str:
    period = report["period"]
    what = (
        f"ISO week {period['label']}, Monday to Sunday"
        if report["kind"] == "weekly"
        else f"calendar month {period['label']}"
    )
    return (
        f"Covers {period['start']} to {period['last_day']} ({what}, {period['days']} days, UTC): "
        "a stored report counts when the last day it covers falls in this period. "
        f"Figures as stored at {report['generated_at']}; buckets under "
        f"{report['k_anonymity']} installations are folded into “other”."
    )


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: headline figures, then one table per topic."""
    period, head = report["period"], report["headline"]
    k = report["k_anonymity"]
    unit = "week" if report["kind"] == "weekly" else "month"
    lines = [
        f"# Printernizer usage: {report['kind']} report {period['label']}",
        "",
        _coverage(report),
        "",
        "## Headline",
        "",
        *_table(
            ["Figure", "Value"],
            [
                [
                    "Installations known (first report by the period's end)",
                    head["installations_known"],
                ],
                [f"Installations reporting in the {unit}", head["active_in_period"]],
                [f"Installations reporting in the previous {unit}", head["active_previous_period"]],
                [f"Change against the previous {unit}", _pct(head["growth_over_previous_period"])],
                ["New installations (first report in the period)", head["new_installations"]],
                ["Reports for the period", head["submissions"]],
                [
                    "Latest version",
                    f"{head['latest_version'] or 'n/a'} ({_pct(head['on_latest_share'])})",
                ],
                [
                    f"Countries reporting / named (≥ {k} installations each)",
                    f"{head['countries_reporting']} / {head['countries_named']}",
                ],
            ],
        ),
        "## Anomalies",
        "",
    ]
    if report["anomalies"]:
        lines += [
            f"- **{a['kind']}** ({a['period']}, {a['severity']}): {a['message']}"
            for a in report["anomalies"]
        ]
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
        "## Version migration (share of each week's reports)",
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
            ["Fleet size (printers)", "Installations", "Share"],
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


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_EMPHASIS = re.compile(r"(?<!\w)_(.+?)_(?!\w)")


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return _EMPHASIS.sub(r"<em>\1</em>", _BOLD.sub(r"<strong>\1</strong>", escaped))


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
    return [cell.strip().replace("\\|", "|") for cell in cells]


def render_html(markdown: str) -> str:
    """The report's Markdown as a self-contained HTML page (the e-mail's HTML part).

    Only the subset render_markdown writes is understood: headings, paragraphs, bullet lists
    and tables. Every text is escaped, so an odd bucket name cannot inject markup.
    """
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><style>'
        "body{font-family:sans-serif;color:#1f2328;max-width:56rem}"
        "table{border-collapse:collapse;margin:0 0 1rem}"
        "th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left}"
        "th{background:#f6f8fa}</style></head><body>",
    ]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            out.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("| "):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            head, body = _cells(block[0]), [_cells(row) for row in block[2:]]
            out.append("<table><thead><tr>")
            out += [f"<th>{_inline(cell)}</th>" for cell in head]
            out.append("</tr></thead><tbody>")
            for row in body:
                out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
            continue
        elif line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out) + "\n"


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


def email_configured(settings: Any, recipients: str | None = None) -> bool:
    """Whether SMTP delivery is switched on (host, sender and recipient set)."""
    to = settings.report_email_to if recipients is None else recipients
    return bool(settings.smtp_host and settings.smtp_from and to)


def build_email(
    settings: Any,
    subject: str,
    markdown: str,
    report: dict[str, Any] | None = None,
    *,
    recipients: str | None = None,
) -> EmailMessage:
    """A mail with the Markdown as its text part, the same content as HTML beside it, and
    the report's JSON attached (when there is a report)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(_recipients(settings, recipients))
    message.set_content(markdown)
    message.add_alternative(render_html(markdown), subtype="html")
    if report is not None:
        message.add_attachment(
            json.dumps(report, indent=2, sort_keys=True).encode(),
            maintype="application",
            subtype="json",
            filename=f"{subject.rsplit(' ', maxsplit=1)[-1]}.json",
        )
    return message


def recipients(settings: Any) -> list[str]:
    """The report recipients REPORT_EMAIL_TO lists."""
    return _recipients(settings)


def _recipients(settings: Any, recipients: str | None = None) -> list[str]:
    raw = settings.report_email_to if recipients is None else recipients
    return [part.strip() for part in raw.split(",") if part.strip()]


def send_email_blocking(settings: Any, message: EmailMessage, timeout: float = 30.0) -> None:
    """Deliver one message over SMTP (blocking; run it in a thread).

    Port 465 speaks TLS from the start; otherwise STARTTLS is used whenever the server offers
    it. A password is never sent over an unencrypted connection except to a loopback relay.
    Recipients are the message's To header.
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
        to = [part.strip() for part in str(message["To"]).split(",") if part.strip()]
        smtp.send_message(message, to_addrs=to)


async def send_email(settings: Any, message: EmailMessage) -> bool:
    """Deliver a message without blocking the event loop; False (and a log line) on failure."""
    return (await send_email_result(settings, message))[0]


async def send_email_result(settings: Any, message: EmailMessage) -> tuple[bool, str]:
    """(delivered?, what happened) for one message; never raises for network or SMTP errors."""
    try:
        await asyncio.to_thread(send_email_blocking, settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:300]
        _LOGGER.warning("e-mail not delivered: %s", detail)
        return False, detail
    return True, f"accepted by {settings.smtp_host}:{settings.smtp_port}"


async def deliver_email(
    repository: Any, settings: Any, message: EmailMessage, channel: str = "email"
) -> Delivery:
    """Send a message and remember the result as the channel's last delivery."""
    ok, detail = await send_email_result(settings, message)
    delivery = Delivery(channel, int(time_module.time()), ok, str(message["Subject"]), detail)
    if repository is not None:
        try:
            await record_delivery(repository, delivery)
        except StorageError as err:
            _LOGGER.warning("delivery result not recorded: %s", type(err).__name__)
    return delivery


def sample_email(settings: Any, now: datetime) -> EmailMessage:
    """The dashboard's test message: proves SMTP settings with the same path reports take."""
    stamp = now.astimezone(UTC).replace(microsecond=0).isoformat()
    markdown = (
        "# Printernizer usage: test e-mail\n\n"
        f"Sent from the aggregation server's dashboard at {stamp}. Weekly and monthly reports "
        "and alerts for new critical anomalies arrive the same way.\n"
    )
    return build_email(settings, "Printernizer usage: test e-mail", markdown)


class ReportScheduler(Repeating):
    """Writes the reports REPORT_SCHEDULE asks for into REPORTS_DIR, and mails them if set up.

    Each report is written once: a report whose files already exist is not redone, so
    restarts, several server processes sharing a directory, and catch-up after downtime all
    end with exactly one file per period.
    """

    name = "report-scheduler"

    def __init__(self, stats: Any, settings: Any, repository: Any = None) -> None:
        super().__init__()
        self._stats = stats
        self._settings = settings
        self._repository = repository
        self._kinds = scheduled_kinds(settings.report_schedule)
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
            report = await build_report(self._stats, period, now)
            markdown = render_markdown(report)
            paths = await asyncio.to_thread(write_report, directory, period.stem, report, markdown)
            written.extend(paths)
            _LOGGER.info("wrote %s report %s", kind, period.label)
            if email_configured(self._settings):
                subject = f"Printernizer {kind} report {period.label}"
                await deliver_email(
                    self._repository,
                    self._settings,
                    build_email(self._settings, subject, markdown, report),
                )
        self.written.extend(written)
        return written

    async def step(self) -> None:
        """One scheduler round: write what is due."""
        await self.run_due()

    def pause(self) -> float:
        """Until the next scheduled run, at most MAX_SLEEP_S."""
        now = datetime.now(UTC)
        wake = min(next_run(kind, now) for kind in self._kinds)
        return min(MAX_SLEEP_S, max(1.0, (wake - now).total_seconds()))
