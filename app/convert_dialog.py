"""Pick a GGUF file or Hugging Face folder to convert, with a note if the convert extra is missing."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.bridge import ConvertRequest


def missing_extra_note() -> str:
    """Empty when converting can work; otherwise what to install (a cheap module lookup)."""
    from engine.convert.pipeline import require_convert_extra
    from engine.core.errors import MissingExtraError

    try:
        require_convert_extra()
    except MissingExtraError as exc:
        return str(exc)
    return ""


class ConvertDialog(QDialog):
    def __init__(self, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Convert a model")
        self.models_dir = models_dir
        layout = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText("a .gguf file or a Hugging Face model folder")
        self.source.textChanged.connect(self._on_source_changed)
        row.addWidget(self.source, 1)
        pick_file = QPushButton("File…")
        pick_file.clicked.connect(self._on_pick_file_clicked)
        pick_folder = QPushButton("Folder…")
        pick_folder.clicked.connect(self._on_pick_folder_clicked)
        row.addWidget(pick_file)
        row.addWidget(pick_folder)
        form.addRow("Source", row)
        self.name = QLineEdit()
        form.addRow("Name", self.name)
        self.precision = QComboBox()
        self.precision.addItems(["int4", "int8", "fp16", "fp32"])
        form.addRow("Precision", self.precision)
        self.provider = QComboBox()
        self.provider.addItems(["cpu", "cuda", "dml"])
        form.addRow("Built for", self.provider)
        layout.addLayout(form)
        self.note = QLabel(missing_extra_note())
        self.note.setWordWrap(True)
        self.note.setObjectName("ErrorNotice")
        self.note.setVisible(bool(self.note.text()))
        layout.addWidget(self.note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._on_source_changed("")

    def _on_pick_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF file", "", "GGUF (*.gguf)")
        if path:
            self.source.setText(path)

    def _on_pick_folder_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder")
        if path:
            self.source.setText(path)

    def _on_source_changed(self, text: str) -> None:
        src = Path(text)
        if text and not self.name.isModified():
            self.name.setText(src.name if src.is_dir() else src.name.split(".")[0])
        ok = bool(text) and src.exists() and not self.note.text()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def request(self) -> ConvertRequest:
        out = self.models_dir / (self.name.text().strip() or "converted-model")
        return ConvertRequest(self.source.text(), str(out), self.precision.currentText(), self.provider.currentText())
