"""The model picker: installed models with their figures, load/unload, and model management.

Remote models (``remote://provider/model``) are listed after the local ones, marked
"remote" with their host; while one is selected a badge says where the chat is sent.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.backend_switch import is_remote, split_remote
from engine.core.events import ModelInfo


def human_bytes(size: int) -> str:
    """Binary units (KiB, MiB, GiB), the same figures and unit as ``hearth-cli info`` prints."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit in ("B", "KiB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def human_count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return f"{n:,}"


def describe(info: ModelInfo, context_length: int) -> str:
    ctx = min(context_length, info.max_context)
    return (
        f"{human_count(info.parameters)} params · {info.precision} · {human_bytes(info.size_bytes)} on disk · "
        f"≈{human_bytes(info.estimated_memory(ctx))} memory at {ctx:,} tokens · max context {info.max_context:,}"
    )


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow, instead of cutting a word in half.

    ``text()`` keeps the full text; the tooltip shows it too.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        # Long details must not set the window's minimum width.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), shown)


class ModelPicker(QWidget):
    load_requested = Signal(str)  # folder
    unload_requested = Signal()
    add_folder_requested = Signal()
    convert_requested = Signal()
    delete_requested = Signal(str)
    install_default_requested = Signal()
    add_remote_requested = Signal()
    selection_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelPicker")
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 4, 8, 4)
        column.setSpacing(2)
        layout = QHBoxLayout()
        column.addLayout(layout)
        layout.addWidget(QLabel("Model"))
        self.combo = QComboBox()
        self.combo.setMinimumWidth(220)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # a remote entry's host shows
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        layout.addWidget(self.combo)
        self.load_button = QPushButton("Load")
        self.load_button.clicked.connect(self._on_load_clicked)
        layout.addWidget(self.load_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator: loading reports no steps
        self.progress.setFixedWidth(90)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        layout.addStretch(1)
        self.remote_badge = QLabel("")  # where a remote model's chat goes; hidden for local models
        self.remote_badge.setObjectName("RemoteBadge")
        self.remote_badge.setStyleSheet("#RemoteBadge { background: #b45309; color: white; border-radius: 4px; "
                                        "padding: 1px 6px; font-weight: 600; }")
        self.remote_badge.setVisible(False)
        layout.addWidget(self.remote_badge)
        self.more = QToolButton()
        self.more.setText("Models ▾")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.more)
        menu.addAction("Add model folder…", self.add_folder_requested.emit)
        menu.addAction("Convert a model…", self.convert_requested.emit)
        menu.addAction("Install the default model", self.install_default_requested.emit)
        menu.addAction("Add remote provider…", self.add_remote_requested.emit)
        menu.addSeparator()
        menu.addAction("Delete selected model…", lambda: self.current() and self.delete_requested.emit(self.current()))
        self.more.setMenu(menu)
        layout.addWidget(self.more)
        # A line of its own: beside the buttons it only had room for half its figures.
        self.details = ElidedLabel("")
        self.details.setObjectName("ModelDetails")
        column.addWidget(self.details)
        self.infos: dict[str, ModelInfo] = {}
        self.loaded_path = ""
        self.context_length = 4096
        self.remotes: dict[str, str] = {}  # remote model path -> host:port, set before set_models

    def set_models(self, folders: list[str], select: str = "") -> None:
        current = select or self.current()
        self.combo.blockSignals(True)
        self.combo.clear()
        for folder in folders:
            if is_remote(folder):
                self.combo.addItem(f"{split_remote(folder)[1]}  [remote · {self.remotes.get(folder, '?')}]", folder)
            else:
                self.combo.addItem(Path(folder).name, folder)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(index if index >= 0 else 0)
        self.combo.blockSignals(False)
        self._refresh()

    def folders(self) -> list[str]:
        return [self.combo.itemData(i) for i in range(self.combo.count())]

    def current(self) -> str:
        return self.combo.currentData() or ""

    def set_info(self, info: ModelInfo) -> None:
        self.infos[info.path] = info
        self._refresh()

    def set_loaded(self, path: str) -> None:
        self.loaded_path = path
        self._refresh()

    def set_busy(self, busy: bool, can_change: bool) -> None:
        self.progress.setVisible(busy)
        self.combo.setEnabled(can_change)
        self.load_button.setEnabled(can_change and bool(self.current()))
        self.more.setEnabled(can_change)

    def _on_combo_changed(self, _index: int) -> None:
        self._refresh()
        self.selection_changed.emit(self.current())

    def _on_load_clicked(self) -> None:
        if self.current() and self.current() == self.loaded_path:
            self.unload_requested.emit()
        elif self.current():
            self.load_requested.emit(self.current())

    def _refresh(self) -> None:
        path = self.current()
        self.load_button.setText("Unload" if path and path == self.loaded_path else "Load")
        info = self.infos.get(path)
        self.remote_badge.setVisible(is_remote(path))
        if is_remote(path):
            self._show_remote(path)
        elif not path:
            self.details.setText("No models yet")
        elif info is None:
            self.details.setText("reading model…")
        else:
            self.details.setText(describe(info, self.context_length))
            self.details.setToolTip(f"{self.details.text()}\n{info.architecture} · {info.layout} layout · {info.path}")

    def _show_remote(self, path: str) -> None:
        name, model = split_remote(path)
        host = self.remotes.get(path, "?")
        local = host.split(":")[0].strip("[]") in ("localhost", "127.0.0.1", "::1")
        self.remote_badge.setText("remote · this machine" if local else "remote · leaves this machine")
        where = (f"served by {host} on this machine" if local
                 else f"your messages and documents are sent to {host} and leave this machine")
        self.remote_badge.setToolTip(f"Replies come from {host}: {where}.")
        self.details.setText(f"{model} on {name} ({host}) · remote: {where}")
        self.details.setToolTip(f"{self.details.text()}\n{path}")
