"""icon.png and logo.png: valid PNGs of the sizes the add-on store expects, as artwork.py draws."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import pytest

from tests.addon import artwork
from tests.addon.addon_paths import ADDON


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, payload) chunks, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    found, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, f"CRC of {kind!r}"
        found.append((kind, payload))
        offset += 12 + length
    return found


@pytest.mark.parametrize(
    ("name", "size", "draw"),
    [("icon.png", (128, 128), artwork.icon), ("logo.png", (250, 100), artwork.logo)],
)
def test_image(name: str, size: tuple[int, int], draw: Callable[[], bytes]) -> None:
    data = (ADDON / name).read_bytes()
    parts = chunks(data)
    assert parts[0][0] == b"IHDR" and parts[-1][0] == b"IEND"
    width, height, depth, color_type = struct.unpack(">IIBB", parts[0][1][:10])
    assert (width, height) == size
    assert (depth, color_type) == (8, 6), "8-bit RGBA"
    pixels = zlib.decompress(b"".join(payload for kind, payload in parts if kind == b"IDAT"))
    assert len(pixels) == height * (1 + width * 4)
    stride = 1 + width * 4
    rows = [pixels[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows), "unfiltered scanlines"
    opaque = sum(1 for row in rows for alpha in row[4::4] if alpha)
    assert opaque > width * height // 4, "the image is not (nearly) empty"
    assert data == draw(), f"{name} differs from tests/addon/artwork.py; rerun it"
