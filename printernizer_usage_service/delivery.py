"""Sending reports: the core Submitter, owned for the service's lifetime."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from printernizer_usage_core.models import SharingState, SubmissionStatus
from printernizer_usage_core.service import UsageStatsService
from printernizer_usage_core.submitter import DEFAULT_ENDPOINT, EndpointError, Submitter

from .config import ServiceConfig

_LOGGER = logging.getLogger(__name__)

__all__ = ["Delivery", "EndpointError", "OptOutResult"]


@dataclass(frozen=True, slots=True)
class OptOutResult:
    """What happened on opt-out: local sharing is always off; the server part may be pending."""

    remote_deleted: bool
    remote_error: str | None = None


class Delivery:
    """Starts and stops the Submitter and turns its outcomes into plain API results."""

    def __init__(self, service: UsageStatsService, config: ServiceConfig) -> None:
        self._service = service
        self._config = config
        self.submitter = Submitter(service, default_endpoint=config.endpoint or DEFAULT_ENDPOINT)
        self._running = False

    async def start(self) -> None:
        """Store the configured endpoint and start the weekly loop (unless switched off)."""
        if self._config.endpoint:
            await self._service.set_endpoint(self._config.endpoint)
        if self._config.submit:
            await self.submitter.start()
            self._running = True

    async def stop(self) -> None:
        """Stop the weekly loop and any delivery in flight (also closes the HTTP session)."""
        self._running = False
        await self.submitter.stop()

    async def status(self) -> SubmissionStatus:
        """Delivery state: off, on, failing or blocked, with times and queued periods."""
        status = await self.submitter.status()
        if not self._config.submit and status.state is SharingState.ON:
            # Started with --no-submit: nothing goes out by itself, only "send now" does.
            return status.model_copy(update={"next_attempt": None})
        return status

    async def submit_now(self) -> SubmissionStatus:
        """Queue every closed period and try to send what is due."""
        return await self.submitter.submit_now()

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
