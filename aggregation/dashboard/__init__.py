"""Maintainer dashboard: admin login into a session cookie and the charts page."""

from quart import Blueprint

blueprint = Blueprint("dashboard", __name__)
