"""Drag and drop feedback, and the attach dialog's filters per document type.

``DropOverlay`` watches its window's drag events (an event filter, so the window's
own drop handling stays as it is) and lays a highlight over the window while files
are dragged over it. ``document_filters`` builds the file dialog's filter list from
the kinds the engine reads.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QPainter, QPen
from PySide6.QtWidgets import QWidget

from engine.documents import extensions_by_kind

_KIND_NAMES = {"pdf": "PDF", "docx": "Word", "text": "Plain text", "markdown": "Markdown", "html": "HTML",
               "csv": "CSV and TSV", "json": "JSON", "code": "Source code"}


def document_filters() -> str:
    """``"All supported documents (*.pdf …);;PDF (*.pdf);;…;;All files (*)"`` for ``QFileDialog``."""
    kinds = extensions_by_kind()
    every = " ".join(f"*{s}" for suffixes in kinds.values() for s in suffixes)
    parts = [f"All supported documents ({every})"]
    for kind, name in _KIND_NAMES.items():
        if kind in kinds:
            parts.append(f"{name} ({' '.join(f'*{s}' for s in kinds[kind])})")  # type: ignore[index]
    parts.append("All files (*)")
    return ";;".join(parts)


class DropOverlay(QWidget):
    """A translucent highlight with a hint, shown while something droppable is over ``window``."""

    TEXT = "Drop files to attach them to your message, or a model folder to add it"

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("DropOverlay")
        # Transparent to the mouse and to drops: the window underneath still receives the drop.
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.DragEnter and isinstance(event, QDragEnterEvent) and event.mimeData().hasUrls():
            self.setGeometry(self.parentWidget().rect())
            self.raise_()
            self.show()
        elif kind in (QEvent.Type.DragLeave, QEvent.Type.Drop):
            self.hide()
        return False  # never swallow: the window handles the drop itself

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        accent = QColor(self.palette().highlight().color())
        fill = QColor(accent)
        fill.setAlpha(40)
        painter.fillRect(self.rect(), fill)
        painter.setPen(QPen(accent, 3, Qt.PenStyle.DashLine))
        painter.drawRoundedRect(self.rect().adjusted(6, 6, -6, -6), 10, 10)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        painter.setFont(font)
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        box = painter.fontMetrics().boundingRect(self.rect().adjusted(40, 0, -40, 0), flags, self.TEXT)
        box = box.adjusted(-24, -16, 24, 16)
        painter.setPen(QPen(accent, 2))
        painter.setBrush(self.palette().base())  # a solid card, so the hint never mixes with what is beneath
        painter.drawRoundedRect(box, 12, 12)
        painter.setPen(self.palette().text().color())
        painter.drawText(box, flags, self.TEXT)
