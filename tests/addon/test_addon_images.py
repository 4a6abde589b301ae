"""icon.png and logo.png: valid PNGs of the sizes the add-on store expects, as artwork.py draws."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.addon import artwork
from tests.addon.addon_paths import ADDON


@pytest.mark.parametrize(
    ("name", "size", "draw"),
    [("icon.png", (128, 128), artwork.icon), ("logo.png", (250, 100), artwork.logo)],
)
def test_image(name: str, size: tuple[int, int], draw: Callable[[], bytes]) -> None:
    data = (ADDON / name).read_bytes()
    assert artwork.check_png(data) == size
    assert data == draw(), f"{name} differs from tests/addon/artwork.py; rerun it"
