"""Constants of the Printernizer usage statistics integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from .core.models import PrinterType

DOMAIN: Final = "printernizer_usage"

# Config entry data / options keys.
CONF_ENDPOINT: Final = "endpoint"
CONF_SHARE: Final = "share"
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_DELETE_REMOTE: Final = "delete_remote"
# Sent as X-Submit-Key to servers that set SUBMIT_KEY; a credential, kept in the entry's data.
CONF_SUBMIT_KEY: Final = "submit_key"
# The identity the setup flow's preview showed; handed to the first start, which moves it into
# the database and removes it from the entry.
CONF_INSTALLATION_ID: Final = "installation_id"
CONF_DELETION_SECRET: Final = "deletion_secret"  # noqa: S105 - a key name, not a secret

DEFAULT_RETENTION_DAYS: Final = 90
MIN_RETENTION_DAYS: Final = 1
MAX_RETENTION_DAYS: Final = 3650

# The local SQLite file, inside the Home Assistant configuration directory (and its backups).
DB_FILE: Final = "printernizer_usage.db"

# The preview in a flow's dialog: 40-character lines fit the dialog on a 360-pixel-wide phone
# screen (checked in headless Chromium with Home Assistant 2025.4's frontend).
PREVIEW_LINE_WIDTH: Final = 40

# Bus event that Printernizer or automations fire: data {"event_type": ..., "metadata": {...}}.
EVENT_USAGE: Final = "printernizer_usage_event"

# The regular refresh; events and setting changes refresh the entities in between.
UPDATE_INTERVAL: Final = timedelta(minutes=5)
# Debounce for refreshes triggered by recorded events (bursts become one refresh).
REFRESH_COOLDOWN: Final = 2.0

# A repair issue is raised when sending has failed for at least this many whole periods.
FAILING_PERIODS_FOR_ISSUE: Final = 2
ISSUE_SUBMISSION_FAILING: Final = "submission_failing"

# Integrations whose devices are 3D printers, and the printer family each stands for.
PRINTER_INTEGRATIONS: Final[dict[str, PrinterType]] = {
    "bambu_lab": PrinterType.BAMBU_LAB,
    "prusalink": PrinterType.PRUSA_CORE,
    "octoprint": PrinterType.OCTOPRINT,
    "moonraker": PrinterType.KLIPPER,
}
