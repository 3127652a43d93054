"""Benchmark reports without Qt: flat result rows, CSV and JSON, and charts as SVG or PNG.

One renderer serves ``hearth-cli bench --chart F`` and the app's Benchmark window: the
chart builders lay out a ``Scene`` (rectangles and monospaced text), ``svg`` writes it as
SVG (which the app shows through QtSvg) and ``png`` rasterizes it with zlib and a 5x7
bitmap font, in pure Python.

Why not matplotlib: with numpy's dependents, fonttools, kiwisolver, Pillow and its
freetype it adds some 30-40 MB to the bundle (packaging/hearth.spec excludes it, and
Pillow, today) for a handful of bar charts. Bars are axis-aligned rectangles; a hand
writer needs no new dependency at all and stays a few hundred lines. The cost: no
anti-aliased text in the PNG (the SVG, and the app, have real fonts).
"""

from __future__ import annotations

from pathlib import Path

from engine.report.png import to_png
from engine.report.scene import Scene
from engine.report.svg import to_svg


def write_chart(scene: Scene, path: str | Path) -> Path:
    """Write ``scene`` as SVG if ``path`` ends in .svg, else as PNG."""
    path = Path(path)
    if path.suffix.lower() == ".svg":
        path.write_text(to_svg(scene), encoding="utf-8")
    else:
        path.write_bytes(to_png(scene))
    return path
