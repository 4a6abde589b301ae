"""Tests of the standalone Quart service."""
