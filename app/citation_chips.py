"""The row of citation chips under a reply: one per excerpt the reply was given.

Clicking a chip opens a ``SourceDialog`` with the exact text. Chips sit in a grid of a few
columns, so many excerpts wrap onto more rows instead of widening the message.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QToolButton, QWidget

from app.source_dialog import SourceDialog
from engine.documents.sources import Source

CHIPS_PER_ROW = 3
MAX_CHIP_CHARS = 36  # longer labels are shortened; the tooltip has them whole


class CitationRow(QWidget):
    """Hidden while the reply has no sources."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("CitationRow")
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 2, 0, 0)
        heading = QLabel("Sources:")
        heading.setObjectName("CitationHeading")
        outer.addWidget(heading, 0)
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(4)
        outer.addLayout(self._grid, 0)
        outer.addStretch(1)
        self.chips: list[QToolButton] = []
        self.sources: tuple[Source, ...] = ()
        self.dialog: SourceDialog | None = None  # the last one opened, while it is open
        self.setVisible(False)

    def set_sources(self, sources: Sequence[Source]) -> None:
        for chip in self.chips:
            chip.setParent(None)
            chip.deleteLater()
        self.chips = []
        self.sources = tuple(sources)
        for index, source in enumerate(self.sources):
            chip = QToolButton()
            chip.setObjectName("CitationChip")
            chip.setText(_shortened(source))
            chip.setToolTip(f"{source.label}: show the text the reply was given")
            chip.clicked.connect(lambda _checked=False, s=source: self.open_source(s))
            self._grid.addWidget(chip, index // CHIPS_PER_ROW, index % CHIPS_PER_ROW)
            self.chips.append(chip)
        self.setVisible(bool(self.sources))

    def open_source(self, source: Source) -> SourceDialog:
        dialog = SourceDialog(source, self.window())
        dialog.destroyed.connect(lambda *_: self._forget(dialog))
        self.dialog = dialog
        dialog.show()
        return dialog

    def _forget(self, dialog: SourceDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None


def _shortened(source: Source) -> str:
    """The label within ``MAX_CHIP_CHARS``, cutting the file name, never the page or lines."""
    label = source.label
    if len(label) <= MAX_CHIP_CHARS:
        return label
    where = label[len(source.name):]
    return source.name[: max(8, MAX_CHIP_CHARS - len(where) - 1)] + "…" + where
