"""Blueprints: api (REST), page (web page and API docs), health."""
