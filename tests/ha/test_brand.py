"""The integration's own brand images (brand/, read by Home Assistant 2026.3+): sizes and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.addon import artwork

BRAND = Path(__file__).resolve().parents[2] / "custom_components/printernizer_usage/brand"


def _size_ok(name: str, width: int, height: int) -> bool:
    """Home Assistant's brand rules: icons square 256 (512 @2x); logos' short side 128-256."""
    hidpi = "@2x" in name
    if "icon" in name:
        return width == height == (512 if hidpi else 256)
    low, high = (256, 512) if hidpi else (128, 256)
    return low <= min(width, height) <= high and width >= height


def test_brand_folder_has_exactly_the_drawn_images() -> None:
    """icon, icon@2x, logo, logo@2x, and dark variants only where they differ."""
    assert sorted(p.name for p in BRAND.iterdir()) == sorted(artwork.BRAND_IMAGES)
    for required in ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png"):
        assert required in artwork.BRAND_IMAGES
    for name in artwork.BRAND_IMAGES:
        if name.startswith("dark_"):
            light = (BRAND / name.removeprefix("dark_")).read_bytes()
            assert (BRAND / name).read_bytes() != light, f"{name} is the same as the light one"


@pytest.mark.parametrize("name", sorted(artwork.BRAND_IMAGES))
def test_brand_image(name: str) -> None:
    """Each image is RGBA of an allowed size, @2x twice the size, and what artwork.py draws."""
    data = (BRAND / name).read_bytes()
    width, height = artwork.check_png(data)
    assert _size_ok(name, width, height), f"{name} is {width}x{height}"
    if "@2x" in name:
        assert artwork.check_png((BRAND / name.replace("@2x", "")).read_bytes()) == (
            width // 2,
            height // 2,
        )
    assert data == artwork.BRAND_IMAGES[name](), f"{name} differs from tests/addon/artwork.py"


def test_bad_sizes_are_refused() -> None:
    """The size rule itself refuses what Home Assistant's brand checks refuse."""
    assert not _size_ok("icon.png", 128, 128)
    assert not _size_ok("icon@2x.png", 256, 256)
    assert not _size_ok("logo.png", 250, 100)
    assert not _size_ok("logo@2x.png", 640, 520)
    assert _size_ok("logo.png", 320, 128)
