"""A ``Scene`` as a PNG, drawn and encoded in pure Python (zlib and struct only).

Charts are axis-aligned rectangles and text, so the rasterizer fills spans of a byte
buffer and stamps the 5x7 bitmap font (``font``) at an integer size; no anti-aliasing.
``scale`` multiplies the scene's units into pixels (2 gives a sharp image on HiDPI
screens and in documents).
"""

from __future__ import annotations

import struct
import zlib

from engine.report import font
from engine.report.scene import Rect, Scene, Text


def to_png(scene: Scene, scale: int = 2) -> bytes:
    canvas = _Canvas(scene.width * scale, scene.height * scale, _rgb(scene.background))
    for shape in scene.shapes:
        if isinstance(shape, Rect):
            canvas.fill(round(shape.x * scale), round(shape.y * scale), round((shape.x + shape.w) * scale),
                        round((shape.y + shape.h) * scale), _rgb(shape.fill))
        else:
            _draw_text(canvas, shape, scale)
    return canvas.encode()


def _draw_text(canvas: _Canvas, t: Text, scale: int) -> None:
    # One font pixel is `dot` image pixels: 10 units of text size per font advance of 6 dots.
    dot = max(1, round(t.size * scale / 10))
    width = len(t.text) * font.ADVANCE * dot - dot
    x = round(t.x * scale) - {"start": 0, "middle": width // 2, "end": width}[t.anchor]
    top = round(t.y * scale) - 7 * dot  # the baseline lies under row 6
    colour = _rgb(t.fill)
    for char in t.text:
        for col, bits in enumerate(font.glyph(char)):
            for row in range(font.HEIGHT):
                if bits >> row & 1:
                    px, py = x + col * dot, top + row * dot
                    canvas.fill(px, py, px + dot, py + dot, colour)
        x += font.ADVANCE * dot


class _Canvas:
    def __init__(self, width: int, height: int, background: bytes) -> None:
        self.width, self.height = width, height
        self.rows = [bytearray(background * width) for _ in range(height)]

    def fill(self, x0: int, y0: int, x1: int, y1: int, colour: bytes) -> None:
        x0, x1 = max(x0, 0), min(x1, self.width)
        y0, y1 = max(y0, 0), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        span = colour * (x1 - x0)
        for y in range(y0, y1):
            self.rows[y][x0 * 3 : x1 * 3] = span

    def encode(self) -> bytes:
        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)  # filter type 0 on every row
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(
            b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _rgb(colour: str) -> bytes:
    return bytes.fromhex(colour.lstrip("#")[:6])
