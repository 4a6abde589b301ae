"""Maintainer dashboard: admin login into a session cookie, charts, CSV, reports, community page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from quart import current_app

from .. import demo_data, reports
from ..alerts import AlertNotifier
from ..blueprints.common import repository, settings, stats
from ..storage.base import Repository, StorageError
from .routes import blueprint, login_throttle
from .throttle import LoginThrottle

_LOGGER = logging.getLogger(__name__)
_SCHEDULER = "REPORT_SCHEDULER"
_ALERTS = "ALERT_NOTIFIER"
_PURGE = "SIGNIN_PURGE"
# Expired sessions and past attempt windows are deleted at least this often.
PURGE_SECONDS = 300


async def _purge_sign_in_state(repo: Repository, throttle: LoginThrottle) -> None:
    """Keep sign-in rows short-lived even when nobody signs in (logins purge them too)."""
    while True:
        try:
            await throttle.purge(repo, time.time())
        except StorageError as err:
            _LOGGER.warning("sign-in state not purged: %s", type(err).__name__)
        await asyncio.sleep(PURGE_SECONDS)


@blueprint.before_app_serving
async def _start_background() -> None:
    """Load demo data when asked (into an empty database only), then start reports and alerts."""
    if settings().demo_data:
        _installations, submissions = await repository().totals()
        if submissions == 0:
            history = demo_data.generate_history()
            stored = await demo_data.load_into_repository(repository(), history)
            _LOGGER.info("DEMO_DATA: loaded %d demo submissions", stored)
    scheduler = reports.ReportScheduler(stats(), settings(), repository())
    current_app.config[_SCHEDULER] = scheduler
    scheduler.start()
    notifier = AlertNotifier(stats(), settings(), repository())
    current_app.config[_ALERTS] = notifier
    notifier.start()
    current_app.config[_PURGE] = asyncio.create_task(
        _purge_sign_in_state(repository(), login_throttle()), name="dashboard-signin-purge"
    )


@blueprint.after_app_serving
async def _stop_background() -> None:
    purge = current_app.config.pop(_PURGE, None)
    if purge is not None:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
    scheduler = current_app.config.pop(_SCHEDULER, None)
    if scheduler is not None:
        await scheduler.stop()
    notifier = current_app.config.pop(_ALERTS, None)
    if notifier is not None:
        await notifier.stop()


__all__ = ["blueprint"]
