"""The preset row above the composer: this chat's preset, save the current values as one, delete one."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QInputDialog, QLabel, QPushButton, QWidget

from app import presets
from app.settings import AppSettings, ModelSettings

NO_PRESET = "No preset (the settings panel)"


class PresetBar(QWidget):
    """Views ``settings.presets``; ``changed`` means the settings need saving."""

    changed = Signal()

    def __init__(self, settings: AppSettings, current_values: Callable[[], ModelSettings],
                 current_chat: Callable[[], int | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PresetBar")
        self.settings = settings
        self._current_values = current_values
        self._current_chat = current_chat  # the open chat (None: a new one, not saved yet)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 2, 12, 0)
        row.addWidget(QLabel("Preset"))
        self.combo = QComboBox()
        self.combo.setMinimumWidth(200)
        self.combo.setToolTip("A system prompt and sampling values for this chat")
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        row.addWidget(self.combo)
        self.save_button = QPushButton("Save as preset…")
        self.save_button.setToolTip("Save the current system prompt and sampling values under a name")
        self.save_button.clicked.connect(self._on_save_clicked)
        row.addWidget(self.save_button)
        self.delete_button = QPushButton("Delete preset")
        self.delete_button.clicked.connect(self._on_delete_clicked)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        self._fill("")

    def _fill(self, select: str) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(NO_PRESET, "")
        for name in sorted(self.settings.presets, key=str.casefold):
            self.combo.addItem(name, name)
        self.combo.setCurrentIndex(max(0, self.combo.findData(select)))
        self.combo.blockSignals(False)
        self.delete_button.setVisible(bool(self.current()))

    def current(self) -> str:
        return self.combo.currentData() or ""

    def show_chat(self, conversation_id: int | None) -> None:
        """Show ``conversation_id``'s preset (a new chat keeps the one chosen last)."""
        if conversation_id is not None:
            self._fill(presets.chosen(self.settings, conversation_id))

    def snapshot(self, model: str | None, conversation_id: int | None) -> ModelSettings:
        """The settings for a request in ``conversation_id``, which now keeps the preset shown."""
        if presets.chosen(self.settings, conversation_id) != self.current():
            presets.choose(self.settings, conversation_id, self.current())
            self.changed.emit()
        return presets.snapshot(self.settings, model, self.current())

    def _on_combo_changed(self, _index: int) -> None:
        self.delete_button.setVisible(bool(self.current()))
        chat = self._current_chat()
        if chat is not None:  # a new chat takes the choice with its first message (see snapshot)
            presets.choose(self.settings, chat, self.current())
            self.changed.emit()

    def _on_save_clicked(self) -> None:
        name = self._ask_name()
        if not name:
            return
        presets.save_preset(self.settings, name, presets.values_of(self._current_values()))
        self._fill(name.strip())
        self._on_combo_changed(0)
        self.changed.emit()

    def _on_delete_clicked(self) -> None:
        presets.delete_preset(self.settings, self.current())
        self._fill("")
        self.changed.emit()

    # A dialog hook, replaced in tests.
    def _ask_name(self) -> str | None:
        name, ok = QInputDialog.getText(self, "Save preset", "Name of the preset:", text=self.current())
        return name if ok and name.strip() else None
