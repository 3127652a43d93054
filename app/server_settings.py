"""Settings → Local server: on/off, port, parallel requests and the token with a Copy button.

A widget only: it shows what the ``ServerController`` tells it and emits the user's edits.
``show_prefs`` and ``show_state`` fill it without echoing the values back as edits.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.server_prefs import PORT_RANGE, SLOTS_RANGE, ServerPrefs

NOTE = ("Serves the loaded model to other programs (OpenAI API) on 127.0.0.1 only. Turning it on reloads "
        "the model with this many parallel requests (one KV slot each; memory grows with every slot).")


class ServerSection(QGroupBox):
    switch_toggled = Signal(bool)
    port_changed = Signal(int)
    slots_changed = Signal(int)
    token_copied = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Local server", parent)
        self.setObjectName("ServerSection")
        self._filling = False
        form = QFormLayout(self)
        self.switch = QCheckBox("Serve the loaded model")
        self.switch.toggled.connect(self._on_switch_toggled)
        form.addRow(self.switch)
        self.status = QLabel("Off")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.status)
        self.port = QSpinBox()
        self.port.setRange(*PORT_RANGE)
        self.port.setToolTip("The TCP port on 127.0.0.1")
        self.port.valueChanged.connect(lambda v: self._emit(self.port_changed, v))
        form.addRow("Port", self.port)
        self.slots = QSpinBox()
        self.slots.setRange(*SLOTS_RANGE)
        self.slots.setToolTip("Requests decoded together; the model is reloaded with this many KV slots")
        self.slots.valueChanged.connect(lambda v: self._emit(self.slots_changed, v))
        form.addRow("Parallel requests", self.slots)
        self.token = QLineEdit()
        self.token.setReadOnly(True)
        self.token.setToolTip("Clients send it as their API key (Authorization: Bearer …)")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the token to the clipboard")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.token, 1)
        row.addWidget(self.copy_button)
        form.addRow("Token", row)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        note.setObjectName("ServerNote")
        form.addRow(note)

    def show_prefs(self, prefs: ServerPrefs) -> None:
        self._filling = True
        try:
            self.switch.setChecked(prefs.enabled)
            self.port.setValue(prefs.port)
            self.slots.setValue(prefs.slots)
            self.token.setText(prefs.token)
            self.token.setCursorPosition(0)
        finally:
            self._filling = False

    def show_state(self, text: str, on: bool | None = None) -> None:
        """The status line; ``on`` also sets the switch (without emitting)."""
        self.status.setText(text)
        if on is not None and self.switch.isChecked() != on:
            self._filling = True
            try:
                self.switch.setChecked(on)
            finally:
                self._filling = False

    def _emit(self, signal, value) -> None:  # noqa: ANN001 - a bound Qt signal
        if not self._filling:
            signal.emit(value)

    def _on_switch_toggled(self, on: bool) -> None:
        self._emit(self.switch_toggled, on)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.token.text())
        self.token_copied.emit()
