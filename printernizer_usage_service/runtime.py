"""The objects one running service shares between its blueprints."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from printernizer_usage_core.service import UsageStatsService
from quart import current_app

from .config import ServiceConfig
from .delivery import Delivery

EXTENSION_KEY = "printernizer_usage"


@dataclass(slots=True)
class Runtime:
    """Configuration, the core service and the report sender of this app."""

    config: ServiceConfig
    service: UsageStatsService
    delivery: Delivery
    # Set once the store is open and the sender started (the demo waits for it).
    started: asyncio.Event = field(default_factory=asyncio.Event)


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    value: Runtime = current_app.extensions[EXTENSION_KEY]
    return value
