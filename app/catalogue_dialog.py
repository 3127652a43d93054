"""Models → Browse catalogue: the models Hearth knows how to fetch, and whether each fits this machine.

The list is the catalogue shipped with Hearth (``engine.catalogue``): opening it touches
no network. Only Download does, and the dialog says so. A model that would not fit in
memory at the chosen context is marked and cannot be downloaded from here.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.catalogue.entries import CatalogueEntry, load_catalogue, machine_ram

GB = 2**30
COLUMNS = ("Model", "Parameters", "Format", "Download", "Memory", "License")
NETWORK_NOTE = ("This list ships with Hearth; browsing it sends nothing anywhere. Download connects to the "
                "Hugging Face hub, fetches the files, checks each against the hash the hub reports and "
                "installs the model.")


class CatalogueDialog(QDialog):
    """Pick a catalogue model; ``download(entry)`` is called with the choice."""

    def __init__(self, context: int, download: Callable[[CatalogueEntry], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Browse the model catalogue")
        self.resize(900, 420)
        self.context, self._download = context, download
        self.ram = machine_ram()
        self.entries = load_catalogue()
        self.search = QLineEdit(placeholderText="Search: name, family, quantization…")
        self.fits_only = QCheckBox(f"Only models that fit in memory ({self.ram / GB:.0f} GB)")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.card_button = QPushButton("Open model card")
        self.download_button = QPushButton("Download")
        note = QLabel(NETWORK_NOTE, wordWrap=True)
        note.setObjectName("Hint")
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.fits_only)
        buttons = QHBoxLayout()
        buttons.addWidget(note, 1)
        buttons.addWidget(self.card_button)
        buttons.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.search.textChanged.connect(self.refresh)
        self.fits_only.toggled.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.card_button.clicked.connect(self._on_card_clicked)
        self.download_button.clicked.connect(self._on_download_clicked)
        self.refresh()

    def shown(self) -> list[CatalogueEntry]:
        text = self.search.text()
        return [e for e in self.entries
                if e.matches(text) and (not self.fits_only.isChecked() or e.fits(self.context, self.ram))]

    def refresh(self) -> None:
        self._rows = self.shown()
        self.table.setRowCount(len(self._rows))
        for row, entry in enumerate(self._rows):
            need = entry.memory_bytes(self.context) / GB
            fits = entry.fits(self.context, self.ram)
            memory = f"~{need:.1f} GB at {self.context:,} tokens" + ("" if fits else " · won't fit")
            cells = (entry.name, entry.parameters, f"{entry.format.upper()} {entry.quantization}",
                     f"{entry.size_bytes / GB:.2f} GB", memory, entry.license)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 4 and not fits:
                    item.setForeground(Qt.GlobalColor.red)
                    item.setToolTip(f"Needs about {need:.1f} GB; this machine has {self.ram / GB:.1f} GB. "
                                    "A shorter context needs less.")
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self._on_table_selection_changed()

    def selected(self) -> CatalogueEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self._rows[rows[0].row()] if rows else None

    def _on_table_selection_changed(self) -> None:
        entry = self.selected()
        fits = entry is not None and entry.fits(self.context, self.ram)
        self.card_button.setEnabled(entry is not None)
        self.download_button.setEnabled(fits)
        self.download_button.setToolTip("" if fits or entry is None else "This model would not fit in memory.")

    def _on_card_clicked(self) -> None:
        entry = self.selected()
        if entry is not None:
            QDesktopServices.openUrl(QUrl(entry.card))  # the browser, at the user's request

    def _on_download_clicked(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.accept()
            self._download(entry)
