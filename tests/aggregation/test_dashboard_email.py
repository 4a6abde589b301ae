"""The dashboard's test e-mail and e-mail status, through a real SMTP sink on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import re

from conftest import ADMIN, ADMIN_KEY
from quart import Quart
from test_reports_email import SmtpSink, smtp_sink  # noqa: F401 - fixture re-export

from aggregation.app import create_app
from aggregation.settings import Settings

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _mail_app(app: Quart, port: int, **extra: object) -> Quart:
    settings: Settings = app.config["SETTINGS"]
    return create_app(
        settings.with_changes(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="stats@example.org",
            report_email_to="maintainer@example.org",
            report_schedule="off",
            **extra,
        )
    )


async def _signed_in(client) -> str:  # type: ignore[no-untyped-def]
    login = await client.get("/dashboard/login")
    token = TOKEN.search(await login.get_data(as_text=True))
    assert token
    form = {"api_key": ADMIN_KEY, "csrf_token": token.group(1)}
    assert (await client.post("/dashboard/login", form=form)).status_code == 302
    page = await client.get("/dashboard")
    fresh = TOKEN.search(await page.get_data(as_text=True))
    assert fresh
    return fresh.group(1)


async def test_test_email_from_the_dashboard_form(
    app: Quart,
    smtp_sink: SmtpSink,  # noqa: F811
) -> None:
    mail_app = _mail_app(app, smtp_sink.port)
    async with mail_app.test_app():
        client = mail_app.test_client()
        token = await _signed_in(client)
        page = await (await client.get("/dashboard")).get_data(as_text=True)
        assert 'id="send-test-email"' in page and "none yet" in page
        # Without the CSRF token a signed-in browser's POST is refused.
        refused = await client.post("/dashboard/reports/test-email", form={})
        assert refused.status_code == 403
        assert smtp_sink.messages == []
        sent = await client.post("/dashboard/reports/test-email", form={"csrf_token": token})
        assert sent.status_code == 303
        assert sent.headers["Location"].endswith("/dashboard#reports")
        assert len(smtp_sink.messages) == 1
        _, rcpts, raw = smtp_sink.messages[0]
        assert rcpts == ["maintainer@example.org"]
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed.get_body(preferencelist=("html",)) is not None
        page = await (await client.get("/dashboard")).get_data(as_text=True)
        assert 'class="delivery ok"' in page and "Printernizer usage: test e-mail" in page
        status = await (await client.get("/dashboard/reports/email-status")).get_json()
        assert status["configured"] is True
        assert status["recipients"] == ["maintainer@example.org"]
        assert status["last_delivery"]["success"] is True
        assert status["last_delivery"]["subject"] == "Printernizer usage: test e-mail"


async def test_test_email_api_reports_failure_and_status(
    app: Quart,
    smtp_sink: SmtpSink,  # noqa: F811
) -> None:
    port = smtp_sink.port
    await smtp_sink.stop()  # nothing listens there any more
    mail_app = _mail_app(app, port)
    async with mail_app.test_app():
        client = mail_app.test_client()
        resp = await client.post("/dashboard/reports/test-email", headers=ADMIN)
        assert resp.status_code == 200
        body = await resp.get_json()
        assert body["success"] is False and body["error"]
        assert body["recipients"] == ["maintainer@example.org"]
        status = await (
            await client.get("/dashboard/reports/email-status", headers=ADMIN)
        ).get_json()
        assert status["last_delivery"]["success"] is False
        assert (await client.get("/dashboard/reports/email-status")).status_code == 401
        assert (await client.post("/dashboard/reports/test-email")).status_code == 401
    await smtp_sink.start()  # the fixture stops it again


async def test_test_email_without_smtp_is_a_clear_400(app: Quart) -> None:
    client = app.test_client()
    resp = await client.post("/dashboard/reports/test-email", headers=ADMIN)
    assert resp.status_code == 400
    assert "SMTP_HOST" in (await resp.get_json())["error"]
    status = await (await client.get("/dashboard/reports/email-status", headers=ADMIN)).get_json()
    assert status["configured"] is False and status["last_delivery"] is None
