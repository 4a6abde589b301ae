"""ASGI entry point for `hypercorn aggregation.asgi:app` (settings from the environment)."""

from __future__ import annotations

from .app import create_app

app = create_app()
