"""Report e-mail delivery against a tiny SMTP server on 127.0.0.1, and schedule arithmetic."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from aggregation import reports


@dataclass
class SmtpSink:
    """A minimal SMTP server (RFC 5321 happy path, no TLS): keeps what it receives."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    port: int = 0
    server: asyncio.Server | None = None
    received: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sender, rcpts = "", []

        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await reply("220 sink ESMTP ready")
        while line := await reader.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                await reply("250-sink\r\n250 8BITMIME")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip(" <>")
                await reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(command.split(":", 1)[1].strip(" <>"))
                await reply("250 ok")
            elif verb == "DATA":
                await reply("354 end with <CRLF>.<CRLF>")
                data = await reader.readuntil(b"\r\n.\r\n")
                self.messages.append((sender, rcpts, data[:-5]))
                self.received.set()
                await reply("250 queued")
            elif verb == "QUIT":
                await reply("221 bye")
                break
            else:
                await reply("250 ok")
        writer.close()


@pytest.fixture
async def smtp_sink():
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


def _smtp_settings(port: int, **extra: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_user": "",
        "smtp_password": "",
        "smtp_from": "stats@example.org",
        "report_email_to": "maintainer@example.org, second@example.org",
    }
    values.update(extra)
    return SimpleNamespace(**values)


async def test_report_is_delivered_by_smtp(smtp_sink: SmtpSink) -> None:
    settings = _smtp_settings(smtp_sink.port)
    assert reports.email_configured(settings)
    message = reports.build_email(
        settings, "Printernizer weekly report 2026-W46", "# Weekly\n\nBody", {"kind": "weekly"}
    )
    assert await reports.send_email(settings, message)
    sender, rcpts, data = smtp_sink.messages[0]
    assert sender == "stats@example.org"
    assert rcpts == ["maintainer@example.org", "second@example.org"]
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == "Printernizer weekly report 2026-W46"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and "# Weekly" in body.get_content()
    attachments = list(parsed.iter_attachments())
    assert attachments[0].get_filename() == "2026-W46.json"


async def test_unreachable_smtp_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sink = SmtpSink()
    await sink.start()
    port = sink.port
    await sink.stop()  # nothing listens there any more
    settings = _smtp_settings(port)
    message = reports.build_email(settings, "s 1", "body", {})
    assert not await reports.send_email(settings, message)
    assert "not delivered" in caplog.text


def test_email_not_configured_without_recipient() -> None:
    assert not reports.email_configured(_smtp_settings(25, report_email_to=""))
    assert not reports.email_configured(_smtp_settings(25, smtp_host=""))


def test_periods() -> None:
    sunday = date(2026, 11, 22)
    weekly = reports.last_complete_period("weekly", sunday)
    assert (weekly.start, weekly.end, weekly.label) == (
        date(2026, 11, 9),
        date(2026, 11, 16),
        "2026-W46",
    )
    monthly = reports.last_complete_period("monthly", date(2026, 1, 5))
    assert (monthly.start, monthly.end, monthly.label) == (
        date(2025, 12, 1),
        date(2026, 1, 1),
        "2025-12",
    )
    assert monthly.stem == "monthly-2025-12"


def test_next_run() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert reports.next_run("weekly", now) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert reports.next_run("monthly", now) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    early_monday = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert reports.next_run("weekly", early_monday) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert reports.scheduled_kinds("both") == ("weekly", "monthly")
    assert reports.scheduled_kinds("off") == ()
