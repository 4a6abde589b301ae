"""Draws the add-on's icon.png (128x128) and logo.png (250x100) with the stdlib only.

Run `.venv/bin/python -m tests.addon.artwork` to rewrite both files; the tests check the
committed files are exactly what this draws.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

ADDON = Path(__file__).resolve().parents[2] / "addon"
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


def icon() -> bytes:
    """The 128x128 add-on icon: a printer printing a chart, on Home Assistant blue."""
    return png(128, 128, render(128, 128, printer(4, 4, 120, background=True)))


def logo() -> bytes:
    """The 250x100 add-on logo: the icon and the words USAGE STATS."""
    shapes = printer(6, 6, 88, background=True)
    shapes += text("USAGE", 112, 18, 4.4, TEXT)
    shapes += text("STATS", 112, 56, 4.4, HA_BLUE)
    return png(250, 100, render(250, 100, shapes))


def main() -> None:
    """Write addon/icon.png and addon/logo.png."""
    (ADDON / "icon.png").write_bytes(icon())
    (ADDON / "logo.png").write_bytes(logo())


if __name__ == "__main__":
    main()
