"""A small window showing one citation: the file, its page or line range, and the exact text used."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from engine.documents.sources import Source

_UNIT_NAMES = {"page": ("Page", "Pages"), "paragraph": ("Paragraph", "Paragraphs"), "line": ("Line", "Lines")}


def range_text(source: Source) -> str:
    """``Page 4``, ``Lines 10-42``, or ``The whole file (pages 1-9)``."""
    one, many = _UNIT_NAMES.get(source.unit, ("Line", "Lines"))
    span = f"{one} {source.first}" if source.first == source.last else f"{many} {source.first}-{source.last}"
    return f"The whole file ({span[0].lower()}{span[1:]})" if source.whole else span


class SourceDialog(QDialog):
    """Not modal: the user can keep reading the reply beside it."""

    def __init__(self, source: Source, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setObjectName("SourceDialog")
        self.setWindowTitle(source.label)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(self)
        self.file_label = QLabel(source.name)
        self.file_label.setObjectName("SourceFile")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.file_label)
        self.range_label = QLabel(range_text(source))
        self.range_label.setObjectName("SourceRange")
        layout.addWidget(self.range_label)
        intro = QLabel("The text the reply was given, exactly:")
        intro.setObjectName("SourceIntro")
        layout.addWidget(intro)
        self.text = QPlainTextEdit(source.text)
        self.text.setObjectName("SourceText")
        self.text.setReadOnly(True)
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(560, 420)
