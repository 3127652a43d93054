"""Shows a chart the engine drew as SVG (engine/report), scaled to the view's width."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QScrollArea, QWidget


class _Canvas(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.renderer = QSvgRenderer(self)
        self.aspect = 0.5  # height / width of the current chart

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        height = round(self.width() * self.aspect)
        if height != self.height():
            self.setFixedHeight(height)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        if self.renderer.isValid():
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self.renderer.render(painter, QRectF(0, 0, self.width(), self.height()))
            painter.end()


class ChartView(QScrollArea):
    """A scrolling view of one SVG chart; ``svg`` is the text it shows now."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = _Canvas()
        self.svg = ""
        self.setWidget(self.canvas)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

    def show_svg(self, svg: str) -> None:
        self.svg = svg
        self.canvas.renderer.load(QByteArray(svg.encode("utf-8")))
        size = self.canvas.renderer.defaultSize()
        self.canvas.aspect = size.height() / size.width() if size.width() > 0 else 0.5
        self.canvas._fit_height()
        self.canvas.update()
