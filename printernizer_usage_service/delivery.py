"""Sending reports: the core Submitter, owned for the service's lifetime, and what it did."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from printernizer_usage_core.models import UsageSettings
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.submitter import DEFAULT_ENDPOINT, EndpointError, Submitter

from .config import ServiceConfig
from .schemas import SettingsResponse, StatusResponse, SubmitNowResponse

_LOGGER = logging.getLogger(__name__)

__all__ = ["Delivery", "EndpointError", "OptOutResult"]


@dataclass(frozen=True, slots=True)
class OptOutResult:
    """What happened on opt-out: local sharing is always off; the server part may be pending."""

    remote_deleted: bool
    remote_error: str | None = None


class Delivery:
    """Starts and stops the Submitter and turns its outcomes into plain API results.

    With `submit` off (--no-submit) nothing is ever sent: no weekly round, no "send now".
    The sharing choice is still the user's (state `on` once opted in), and the status says
    `sending_enabled: false`, `blocked_by: no_submit` and no next attempt.
    """

    def __init__(self, service: UsageStatsService, config: ServiceConfig) -> None:
        self._service = service
        self._config = config
        self.submitter = Submitter(service, default_endpoint=config.endpoint or DEFAULT_ENDPOINT)

    async def start(self) -> None:
        """Store the configured endpoint and start the weekly loop (unless switched off)."""
        if self._config.endpoint:
            await self._service.set_endpoint(self._config.endpoint)
        if self._config.submit:
            await self.submitter.start()

    async def stop(self) -> None:
        """Stop the weekly loop and any delivery in flight (also closes the HTTP session)."""
        await self.submitter.stop()

    def with_endpoint(self, settings: UsageSettings) -> SettingsResponse:
        """The settings with where reports actually go (never null: the default is named)."""
        stored = settings.endpoint
        if stored and stored != self._config.endpoint:
            source = "chosen"
        elif self._config.endpoint:
            source = "configured"
        else:
            source = "default"
        return SettingsResponse.model_validate(
            {
                **settings.model_dump(),
                "endpoint": self.submitter.effective_endpoint(stored),
                "endpoint_source": source,
            }
        )

    async def settings(self) -> SettingsResponse:
        """The stored settings with the effective endpoint."""
        return self.with_endpoint(await self._service.get_settings())

    @property
    def blocked_by(self) -> str | None:
        """Why nothing is sent, if nothing is: the environment's veto or --no-submit."""
        if self._service.blocked_by_environment:
            return "environment"
        if not self._config.submit:
            return "no_submit"
        return None

    async def status(self) -> StatusResponse:
        """Delivery state: off, on, failing or blocked, with times and queued periods."""
        status = await self.submitter.status()
        blocked_by = self.blocked_by
        update: dict[str, object] = {"blocked_by": blocked_by, "sending_enabled": not blocked_by}
        if blocked_by:
            # Nothing goes out, so nothing is planned (the environment's veto is the state
            # `blocked` already; --no-submit leaves the user's choice as it is).
            update["next_attempt"] = None
        return StatusResponse.model_validate({**status.model_dump(), **update})

    async def send_now(self) -> SubmitNowResponse:
        """Queue every closed period and try to send what is due; says what happened."""
        report, _ = await self.submitter.send_now()
        status = await self.status()
        return SubmitNowResponse.model_validate(
            {**status.model_dump(), "result": report.result, "delivered_periods": report.sent}
        )

    async def opt_out(self, delete_remote: bool) -> OptOutResult:
        """Stop sharing now; optionally ask the server to delete this installation's reports.

        The server is asked once right away; if it cannot be reached the submitter retries in
        the background and `remote_error` says so.
        """
        had_identity = (await self._service.get_settings()).installation_id is not None
        await self.submitter.opt_out(delete_remote=delete_remote)
        if not delete_remote or not had_identity:
            return OptOutResult(remote_deleted=False)
        if (await self._service.get_settings()).installation_id is None:
            return OptOutResult(remote_deleted=True)
        status = await self.submitter.status()
        return OptOutResult(
            remote_deleted=False, remote_error=status.last_error or "deletion pending"
        )
