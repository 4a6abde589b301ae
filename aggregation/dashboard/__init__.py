"""Maintainer dashboard: admin login into a session cookie, charts, CSV, reports, community page."""

from __future__ import annotations

import logging

from quart import current_app

from .. import demo_data, reports
from ..blueprints.common import repository, settings, stats
from .routes import blueprint

_LOGGER = logging.getLogger(__name__)
_SCHEDULER = "REPORT_SCHEDULER"


@blueprint.before_app_serving
async def _start_background() -> None:
    """Load demo data when asked (into an empty database only), then start the report schedule."""
    if settings().demo_data:
        _installations, submissions = await repository().totals()
        if submissions == 0:
            history = demo_data.generate_history()
            stored = await demo_data.load_into_repository(repository(), history)
            _LOGGER.info("DEMO_DATA: loaded %d demo submissions", stored)
    scheduler = reports.ReportScheduler(stats(), settings())
    current_app.config[_SCHEDULER] = scheduler
    scheduler.start()


@blueprint.after_app_serving
async def _stop_background() -> None:
    scheduler = current_app.config.pop(_SCHEDULER, None)
    if scheduler is not None:
        await scheduler.stop()


__all__ = ["blueprint"]
