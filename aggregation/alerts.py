"""Pushes each new critical anomaly once: by e-mail and to an optional webhook (JSON POST)."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from . import reports
from .background import Repeating
from .storage import analytics as store
from .storage.base import StorageError

_LOGGER = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 10.0
SOURCE = "printernizer-usage-aggregation"


def alert_recipients(settings: Any) -> str:
    """ALERT_EMAIL_TO, or REPORT_EMAIL_TO when that is empty."""
    return str(settings.alert_email_to or settings.report_email_to)


def channels(settings: Any) -> list[str]:
    """The channels alerts go to: e-mail when SMTP is set up, the webhook when configured."""
    if not settings.alerts_enabled:
        return []
    out = []
    if reports.email_configured(settings, alert_recipients(settings)):
        out.append("email")
    if settings.alert_webhook_url:
        out.append("webhook")
    return out


def _title(anomaly: dict[str, Any]) -> str:
    names = {"error_spike": "Error spike", "active_drop": "Drop in active installations"}
    title = names.get(str(anomaly["kind"]), str(anomaly["kind"]))
    if anomaly.get("subject"):
        title += f": {anomaly['subject']}"
    return f"{title} (week of {anomaly['period']})"


def webhook_body(anomaly: dict[str, Any]) -> dict[str, Any]:
    """The JSON an alert webhook receives (a Home Assistant webhook trigger reads it as
    trigger.json)."""
    return {"source": SOURCE, "event": "anomaly", "title": _title(anomaly), **anomaly}


def alert_markdown(anomaly: dict[str, Any]) -> str:
    """The alert e-mail's text (its HTML part is rendered from it)."""
    rows = [
        ["Week", anomaly["period"]],
        ["Measure", anomaly["measure"]],
        ["Observed", anomaly["value"]],
        ["Baseline", anomaly["baseline"]],
        ["Threshold", anomaly["threshold"]],
    ]
    if anomaly.get("installations"):
        rows.append(["Installations affected", anomaly["installations"]])
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"# Printernizer usage alert: {_title(anomaly)}\n\n{anomaly['message']}.\n\n"
        f"| Figure | Value |\n|---|---|\n{table}\n\n"
        "This alert is sent once; the dashboard keeps showing it while it is recent.\n"
    )


async def post_webhook(url: str, body: dict[str, Any]) -> tuple[bool, str]:
    """POST the alert as JSON; (delivered?, what happened). Never raises for network errors."""
    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
    try:
        # The system resolver (getaddrinfo in a thread): it knows /etc/hosts names such as
        # homeassistant.local or localhost, and does not depend on aiodns being compatible.
        connector = aiohttp.TCPConnector(resolver=aiohttp.ThreadedResolver())
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector) as client,
            client.post(url, json=body) as response,
        ):
            if 200 <= response.status < 300:
                return True, f"HTTP {response.status}"
            return False, f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return False, f"{type(exc).__name__}: {exc}"[:300]


class AlertNotifier(Repeating):
    """Checks for anomalies on a timer and pushes each new critical one exactly once.

    What was sent is recorded in the database before sending (`alerts_sent`), so restarts and
    several server processes never send twice; when every channel fails the record is
    removed and the next check tries again.
    """

    name = "alerts"

    def __init__(self, stats: Any, settings: Any, repository: Any) -> None:
        super().__init__()
        self._stats = stats
        self._settings = settings
        self._repository = repository

    @property
    def enabled(self) -> bool:
        """Whether any alert channel is configured."""
        return bool(channels(self._settings))

    async def run_once(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Push every new critical anomaly of the last two weeks; the ones pushed."""
        wanted = channels(self._settings)
        if not wanted:
            return []
        now = now or datetime.now(UTC)
        # Like scheduled reports, a week is judged from 06:00 UTC on the Monday after it.
        until = (now - reports.SCHEDULE_OFFSET).astimezone(UTC).date().toordinal()
        found = await self._stats.anomalies(until_day=until, check_weeks=2)
        pushed = []
        for anomaly in found["anomalies"]:
            if anomaly["severity"] != "critical":
                continue
            key = str(anomaly["key"])
            claimed = await store.claim_alert(
                self._repository, key, now=int(now.timestamp()), channels=",".join(wanted)
            )
            if not claimed:
                continue
            if await self._push(anomaly, wanted):
                pushed.append(anomaly)
            else:
                await store.release_alert(self._repository, key)
        return pushed

    async def _push(self, anomaly: dict[str, Any], wanted: list[str]) -> bool:
        conf = self._settings
        delivered = False
        if "email" in wanted:
            message = reports.build_email(
                conf,
                f"Printernizer alert: {_title(anomaly)}",
                alert_markdown(anomaly),
                recipients=alert_recipients(conf),
            )
            result = await reports.deliver_email(self._repository, conf, message, "alert-email")
            delivered |= result.ok
        if "webhook" in wanted:
            ok, detail = await post_webhook(conf.alert_webhook_url, webhook_body(anomaly))
            delivered |= ok
            with contextlib.suppress(StorageError):
                await store.record_delivery(
                    self._repository,
                    store.Delivery("alert-webhook", int(time.time()), ok, _title(anomaly), detail),
                )
            if not ok:
                _LOGGER.warning("alert webhook not delivered: %s", detail)
        return delivered

    async def step(self) -> None:
        """One check."""
        await self.run_once()

    def pause(self) -> float:
        """ALERT_CHECK_SECONDS."""
        return float(self._settings.alert_check_seconds)
