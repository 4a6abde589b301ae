"""The web page at /: privacy settings and the local statistics viewer."""

from __future__ import annotations

from printernizer_usage_core.models import CONSENT_VERSION
from printernizer_usage_core.privacy import EVENT_TYPES
from quart import Blueprint, render_template
from quart_schema import hide

from .. import __version__
from ..runtime import runtime

page = Blueprint(
    "page",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)

# Plain-language names for the allow-listed event types shown on the privacy card.
EVENT_LABELS = {
    "app_start": "Printernizer started",
    "app_shutdown": "Printernizer stopped (uptime rounded to a range)",
    "job_created": "Print job created",
    "job_completed": "Print job completed (duration rounded to a range)",
    "job_failed": "Print job failed (error class name only)",
    "file_downloaded": "File downloaded (type and size range, never the name)",
    "file_uploaded": "File uploaded (type and size range, never the name)",
    "printer_connected": "Printer connected (family only)",
    "printer_disconnected": "Printer disconnected (family only)",
    "error_occurred": "Error occurred (class name and component, never the message)",
    "feature_enabled": "Feature switched on",
    "feature_disabled": "Feature switched off",
}


@page.get("/")
@hide
async def index() -> str:
    """The single page: sharing choice, privacy policy, statistics, payload, export, delete."""
    config = runtime().config
    events = [(name, EVENT_LABELS.get(name, name.replace("_", " "))) for name in EVENT_TYPES]
    return await render_template(
        "index.html",
        version=__version__,
        consent_version=CONSENT_VERSION,
        token_required=config.token_required,
        events=events,
    )
