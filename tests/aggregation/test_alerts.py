"""Alerts: each new critical anomaly reaches a real SMTP sink and a real HTTP webhook once."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from quart import Quart
from test_reports_email import SmtpSink, smtp_sink  # noqa: F401 - fixture re-export

from aggregation.alerts import AlertNotifier, channels
from aggregation.demo_data import DemoOptions, generate_history, load_into_repository
from aggregation.settings import Settings, SettingsError
from aggregation.storage import analytics


class WebhookReceiver:
    """A real HTTP server on localhost that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.received = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.received.set()
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/webhook/{webhook_id}", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "localhost", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        # The form of a Home Assistant webhook URL, over the host name localhost.
        self.url = f"http://localhost:{port}/api/webhook/printernizer-alerts"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


def _alert_settings(app: Quart, **changes: Any) -> Settings:
    settings: Settings = app.config["SETTINGS"]
    return settings.with_changes(**changes)


def _subjects(sink: SmtpSink) -> list[str]:
    return [
        str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"]).strip()
        for _, _, raw in sink.messages
    ]


async def _demo(app: Quart) -> None:
    # The demo's newest week has the injected MQTTDisconnectError spike.
    await load_into_repository(app.config["REPOSITORY"], generate_history(DemoOptions()))


async def test_new_critical_anomaly_is_pushed_once(
    app: Quart,
    smtp_sink: SmtpSink,  # noqa: F811
    webhook: WebhookReceiver,
) -> None:
    await _demo(app)
    settings = _alert_settings(
        app,
        smtp_host="127.0.0.1",
        smtp_port=smtp_sink.port,
        smtp_from="stats@example.org",
        report_email_to="reports@example.org",
        alert_email_to="oncall@example.org",
        alert_webhook_url=webhook.url,
    )
    assert channels(settings) == ["email", "webhook"]
    repo = app.config["REPOSITORY"]
    notifier = AlertNotifier(app.config["STATS"], settings, repo)
    pushed = await notifier.run_once()
    assert any(a["kind"] == "error_spike" and a["subject"] == "MQTTDisconnectError" for a in pushed)
    assert all(a["severity"] == "critical" for a in pushed)
    assert all(a["installations"] >= 5 for a in pushed if a["kind"] == "error_spike")
    # One e-mail and one webhook call per anomaly, to the alert recipients.
    assert len(smtp_sink.messages) == len(pushed) == len(webhook.bodies)
    assert {rcpt for _, rcpts, _ in smtp_sink.messages for rcpt in rcpts} == {"oncall@example.org"}
    assert any("MQTTDisconnectError" in s for s in _subjects(smtp_sink))
    body = next(b for b in webhook.bodies if b.get("subject") == "MQTTDisconnectError")
    assert body["source"] == "printernizer-usage-aggregation"
    assert body["event"] == "anomaly"
    assert body["kind"] == "error_spike" and body["severity"] == "critical"
    assert "MQTTDisconnectError" in body["title"] and body["message"]
    assert json.dumps(body)  # plain JSON a Home Assistant automation can template
    # Sent once: again, and after a restart (a new notifier), nothing is sent.
    assert await notifier.run_once() == []
    assert await AlertNotifier(app.config["STATS"], settings, repo).run_once() == []
    assert len(webhook.bodies) == len(pushed)
    keys = {key for key, _, _ in await analytics.alerts_sent(repo)}
    assert keys == {a["key"] for a in pushed}
    last = await analytics.last_delivery(repo, "alert-webhook")
    assert last is not None and last.ok and last.detail == "HTTP 200"
    assert (await analytics.last_delivery(repo, "alert-email")).ok  # type: ignore[union-attr]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_failed_delivery_is_retried_at_the_next_check(
    app: Quart, webhook: WebhookReceiver
) -> None:
    await _demo(app)
    repo = app.config["REPOSITORY"]
    dead = _alert_settings(app, alert_webhook_url=f"http://127.0.0.1:{_closed_port()}/hook")
    assert channels(dead) == ["webhook"]
    assert await AlertNotifier(app.config["STATS"], dead, repo).run_once() == []
    assert await analytics.alerts_sent(repo) == [], "nothing delivered: nothing remembered"
    failed = await analytics.last_delivery(repo, "alert-webhook")
    assert failed is not None and not failed.ok
    webhook.status = 500
    live = _alert_settings(app, alert_webhook_url=webhook.url)
    assert await AlertNotifier(app.config["STATS"], live, repo).run_once() == []
    webhook.status = 204
    pushed = await AlertNotifier(app.config["STATS"], live, repo).run_once()
    assert pushed and len(await analytics.alerts_sent(repo)) == len(pushed)


async def test_no_channel_no_alerts(app: Quart) -> None:
    await _demo(app)
    settings = _alert_settings(app)
    assert channels(settings) == []
    notifier = AlertNotifier(app.config["STATS"], settings, app.config["REPOSITORY"])
    assert not notifier.enabled
    assert await notifier.run_once() == []
    off = _alert_settings(app, alerts_enabled=False, alert_webhook_url="http://localhost:1/x")
    assert channels(off) == []


def test_alert_settings_from_the_environment() -> None:
    env = {"ALERT_WEBHOOK_URL": "https://ha.example.org/api/webhook/abc123", "ALERTS": "on"}
    settings = Settings.from_env(env)
    assert settings.alert_webhook_url.endswith("/abc123")
    assert "abc123" not in repr(settings), "the webhook id is a secret"
    assert settings.alert_check_seconds == 3600
    for bad in ("ftp://x/y", "homeassistant.local/api/webhook/x", "http://"):
        with pytest.raises(SettingsError, match="ALERT_WEBHOOK_URL"):
            Settings.from_env({"ALERT_WEBHOOK_URL": bad})
    with pytest.raises(SettingsError, match="ALERT_CHECK_SECONDS"):
        Settings.from_env({"ALERT_CHECK_SECONDS": "1"})
