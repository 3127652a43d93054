"""A chart as a flat list of shapes, in the units of an SVG user space (1 unit = 1 CSS px).

The chart builders (``bench_chart``) lay out a ``Scene``; the writers (``svg``, ``png``)
only draw what it holds. Text is monospaced by design: a label's width is
``len(text) * size * CHAR_WIDTH`` in both writers, so the layout can fit labels
without a font library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

CHAR_WIDTH = 0.6  # a monospace advance, in ems (DejaVu Sans Mono: 0.602; the bitmap font: 6/10)

Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str  # "#rrggbb"


@dataclass(frozen=True)
class Text:
    """One line of text; ``y`` is its baseline, ``anchor`` says where ``x`` lies on it."""

    x: float
    y: float
    text: str
    size: float
    fill: str
    anchor: Anchor = "start"


Shape = Union[Rect, Text]


@dataclass
class Scene:
    width: int
    height: int
    background: str
    shapes: list[Shape] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, fill: str) -> None:
        self.shapes.append(Rect(x, y, w, h, fill))

    def text(self, x: float, y: float, text: str, size: float, fill: str, anchor: Anchor = "start") -> None:
        self.shapes.append(Text(x, y, text, size, fill, anchor))


def text_width(text: str, size: float) -> float:
    return len(text) * size * CHAR_WIDTH


def fit(text: str, size: float, width: float) -> str:
    """``text`` cut with an ellipsis so it fits in ``width``."""
    most = int(width / (size * CHAR_WIDTH))
    return text if len(text) <= most else text[: max(most - 1, 0)] + "…"
