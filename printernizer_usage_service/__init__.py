"""Standalone Quart service: the usage-statistics core behind a REST API and a local web page."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"

CORE_PACKAGE = "printernizer_usage_core"


def _make_core_importable() -> None:
    """In a source checkout that is not installed (`python -m printernizer_usage_service` from
    the repository root), load the core from the HA integration's folder under the name the
    installed package maps it to (pyproject.toml's package-dir)."""
    if CORE_PACKAGE in sys.modules or importlib.util.find_spec(CORE_PACKAGE) is not None:
        return
    core = Path(__file__).resolve().parent.parent / "custom_components/printernizer_usage/core"
    spec = importlib.util.spec_from_file_location(
        CORE_PACKAGE, core / "__init__.py", submodule_search_locations=[str(core)]
    )
    if spec is None or spec.loader is None or not core.is_dir():
        return  # an installed copy without the core: the import error that follows says so
    module = importlib.util.module_from_spec(spec)
    sys.modules[CORE_PACKAGE] = module
    spec.loader.exec_module(module)


_make_core_importable()
