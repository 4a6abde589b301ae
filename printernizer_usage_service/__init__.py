"""Standalone Quart service: the usage-statistics core behind a REST API and a local web page."""

__version__ = "0.1.0"
