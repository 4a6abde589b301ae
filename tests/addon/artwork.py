"""Draws the project's artwork with the stdlib only: one printer-and-chart motif for all of it.

The add-on's icon.png (128x128) and logo.png (250x100), and the integration's brand images
(custom_components/printernizer_usage/brand/: icon 256/512, logo 320x128/640x256 and a dark
logo whose lettering shows on a dark background). Run `.venv/bin/python -m tests.addon.artwork`
to rewrite them all; the tests check the committed files are exactly what this draws.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addon"
BRAND = ROOT / "custom_components" / "printernizer_usage" / "brand"
SUPERSAMPLE = 4  # samples per pixel edge: smooth edges without an imaging library

Color = tuple[int, int, int, int]
Box = tuple[float, float, float, float]
# A convex area: its inside-test, its bounding box and its colour.
Shape = tuple[Callable[[float, float], bool], Box, Color]

HA_BLUE: Color = (3, 169, 244, 255)
DARK_BLUE: Color = (1, 87, 155, 255)
WHITE: Color = (255, 255, 255, 255)
PAPER: Color = (236, 245, 252, 255)
SLOT: Color = (38, 50, 56, 255)
TEXT: Color = (38, 50, 56, 255)
TEXT_ON_DARK: Color = (236, 239, 241, 255)
ACCENT: Color = (255, 152, 0, 255)

# 5x7 bitmap glyphs for the logo lettering.
GLYPHS = {
    "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "G": ["01111", "10000", "10000", "10111", "10001", "10001", "01111"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
}


def rounded_rect(box: Box, r: float, color: Color) -> Shape:
    """A rectangle with rounded corners."""
    x0, y0, x1, y1 = box

    def inside(x: float, y: float) -> bool:
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return False
        cx = min(max(x, x0 + r), x1 - r)
        cy = min(max(y, y0 + r), y1 - r)
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r

    return inside, box, color


def rect(box: Box, color: Color) -> Shape:
    """An axis-aligned rectangle."""
    x0, y0, x1, y1 = box
    return (lambda x, y: x0 <= x <= x1 and y0 <= y <= y1), box, color


def printer(ox: float, oy: float, size: float, background: bool) -> list[Shape]:
    """A printer whose paper shows a bar chart, in a size x size box at (ox, oy)."""

    def box(x0: float, y0: float, x1: float, y1: float) -> Box:
        return ox + x0 * size, oy + y0 * size, ox + x1 * size, oy + y1 * size

    shapes: list[Shape] = []
    if background:
        shapes.append(rounded_rect(box(0, 0, 1, 1), 0.22 * size, HA_BLUE))
    body = WHITE if background else HA_BLUE
    shapes += [
        # Paper coming out of the top, with the chart on it.
        rect(box(0.30, 0.14, 0.70, 0.48), PAPER),
        rect(box(0.36, 0.34, 0.42, 0.44), DARK_BLUE),
        rect(box(0.47, 0.26, 0.53, 0.44), ACCENT),
        rect(box(0.58, 0.20, 0.64, 0.44), DARK_BLUE),
        # Printer body and output slot.
        rounded_rect(box(0.14, 0.42, 0.86, 0.76), 0.07 * size, body),
        rect(box(0.26, 0.55, 0.74, 0.60), SLOT),
        rounded_rect(box(0.72, 0.46, 0.79, 0.51), 0.02 * size, ACCENT),
        # Printed sheet below the slot.
        rect(box(0.30, 0.60, 0.70, 0.86), PAPER),
        rect(box(0.36, 0.67, 0.64, 0.70), DARK_BLUE),
        rect(box(0.36, 0.74, 0.56, 0.77), DARK_BLUE),
    ]
    return shapes


def text(word: str, ox: float, oy: float, scale: float, color: Color) -> list[Shape]:
    """Block letters from GLYPHS, top-left at (ox, oy), one glyph pixel = scale."""
    shapes: list[Shape] = []
    for index, letter in enumerate(word):
        left = ox + index * 6 * scale
        for row, bits in enumerate(GLYPHS[letter]):
            for col, bit in enumerate(bits):
                if bit == "1":
                    x0, y0 = left + col * scale, oy + row * scale
                    shapes.append(rect((x0, y0, x0 + scale, y0 + scale), color))
    return shapes


def render(width: int, height: int, shapes: list[Shape]) -> bytes:
    """Rasterise the shapes (later ones on top) into RGBA rows, supersampled."""
    n = SUPERSAMPLE
    offsets = [(i + 0.5) / n for i in range(n)]
    rows = bytearray()
    for py in range(height):
        rows.append(0)  # PNG filter type 0 for this scanline
        row_shapes = [s for s in reversed(shapes) if s[1][1] <= py + 1 and s[1][3] >= py]
        for px in range(width):
            # Topmost first, only shapes whose box touches this pixel.
            here = [s for s in row_shapes if s[1][0] <= px + 1 and s[1][2] >= px]
            if here:
                inside, _, color = here[0]
                corners = ((px, py), (px + 1, py), (px, py + 1), (px + 1, py + 1))
                if all(inside(x, y) for x, y in corners):
                    # A convex shape covering all four corners covers the whole pixel.
                    rows += bytes(color)
                    continue
            acc = [0, 0, 0, 0]
            for dy in offsets:
                for dx in offsets:
                    x, y = px + dx, py + dy
                    for inside, _, color in here:
                        if inside(x, y):
                            alpha = color[3]
                            acc[0] += color[0] * alpha
                            acc[1] += color[1] * alpha
                            acc[2] += color[2] * alpha
                            acc[3] += alpha
                            break
            total_alpha = acc[3]
            if total_alpha:
                rows += bytes(
                    (
                        round(acc[0] / total_alpha),
                        round(acc[1] / total_alpha),
                        round(acc[2] / total_alpha),
                        round(total_alpha / (n * n)),
                    )
                )
            else:
                rows += b"\x00\x00\x00\x00"
    return bytes(rows)


def png(width: int, height: int, raw_rows: bytes) -> bytes:
    """Encode filtered RGBA scanlines as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw_rows, 9))
        + chunk(b"IEND", b"")
    )


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, payload) chunks, checking the signature and every CRC."""
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


def check_png(data: bytes) -> tuple[int, int]:
    """Check a PNG is 8-bit RGBA as png() writes it and not (nearly) empty; its size."""
    parts = png_chunks(data)
    assert parts[0][0] == b"IHDR" and parts[-1][0] == b"IEND"
    width, height, depth, color_type = struct.unpack(">IIBB", parts[0][1][:10])
    assert (depth, color_type) == (8, 6), "8-bit RGBA"
    pixels = zlib.decompress(b"".join(payload for kind, payload in parts if kind == b"IDAT"))
    stride = 1 + width * 4
    assert len(pixels) == height * stride
    rows = [pixels[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows), "unfiltered scanlines"
    opaque = sum(1 for row in rows for alpha in row[4::4] if alpha)
    assert opaque > width * height // 4, "the image is not (nearly) empty"
    return width, height


def icon(size: int = 128) -> bytes:
    """The square icon: a printer printing a chart, on Home Assistant blue (add-on: 128)."""
    margin = size / 32
    return png(size, size, render(size, size, printer(margin, margin, size - 2 * margin, True)))


def logo(scale: float = 1.0, text_color: Color = TEXT) -> bytes:
    """The logo: the icon and the words USAGE STATS; 250x100 at scale 1 (the add-on's)."""
    width, height = round(250 * scale), round(100 * scale)
    shapes = printer(6 * scale, 6 * scale, 88 * scale, background=True)
    shapes += text("USAGE", 112 * scale, 18 * scale, 4.4 * scale, text_color)
    shapes += text("STATS", 112 * scale, 56 * scale, 4.4 * scale, HA_BLUE)
    return png(width, height, render(width, height, shapes))


# Home Assistant's brand images: the icon is square, the logo's short side 128-256 (512 @2x).
# Only the logo needs a dark variant (its dark lettering); the icon has its own background.
BRAND_IMAGES: dict[str, Callable[[], bytes]] = {
    "icon.png": lambda: icon(256),
    "icon@2x.png": lambda: icon(512),
    "logo.png": lambda: logo(1.28),
    "logo@2x.png": lambda: logo(2.56),
    "dark_logo.png": lambda: logo(1.28, TEXT_ON_DARK),
    "dark_logo@2x.png": lambda: logo(2.56, TEXT_ON_DARK),
}


def main() -> None:
    """Write addon/icon.png, addon/logo.png and the integration's brand/ images."""
    (ADDON / "icon.png").write_bytes(icon())
    (ADDON / "logo.png").write_bytes(logo())
    BRAND.mkdir(exist_ok=True)
    for name, draw in BRAND_IMAGES.items():
        (BRAND / name).write_bytes(draw())


if __name__ == "__main__":
    main()
