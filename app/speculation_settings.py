"""Settings → Speculation: off, prompt lookup, or a draft model picked from the compatible ones.

A widget only: it shows what the ``SpeculationController`` tells it (the setting in effect,
the models that can draft, a status line) and emits the user's choices.
``show_choice`` and ``show_drafts`` fill it without echoing the values back as choices.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from app.speculation_prefs import MODE_NAMES, MODES, SpeculationPrefs

NOTE = ("While the local server runs, prompt lookup applies to whichever request decodes alone and is off "
        "while several decode together; a draft model is used only without the server. "
        "A draft model uses extra memory.")


class SpeculationSection(QGroupBox):
    chosen = Signal(object)  # SpeculationPrefs: the user picked a mode or a draft

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Speculation", parent)
        self.setObjectName("SpeculationSection")
        self._filling = False
        form = QFormLayout(self)
        self.mode = QComboBox()
        for key in MODES:
            self.mode.addItem(MODE_NAMES[key], key)
        self.mode.setToolTip("Guess several tokens ahead and let the model check them in one step: the same reply, "
                             "often faster. Prompt lookup guesses from text already in the chat.")
        self.mode.currentIndexChanged.connect(self._on_choice_changed)
        form.addRow("Speculative decoding", self.mode)
        self.draft = QComboBox()
        self.draft.setToolTip("Only models with the loaded model's tokenizer are listed")
        self.draft.currentIndexChanged.connect(self._on_choice_changed)
        form.addRow("Draft model", self.draft)
        self.status = QLabel("Off.")
        self.status.setObjectName("SpeculationStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.status)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        note.setObjectName("SpeculationNote")
        form.addRow(note)
        self._refresh_draft_enabled()

    def choice(self) -> SpeculationPrefs:
        mode = self.mode.currentData() or "off"
        return SpeculationPrefs(mode, (self.draft.currentData() or "") if mode == "draft" else "")

    def show_choice(self, prefs: SpeculationPrefs) -> None:
        """Show ``prefs`` as the setting (a draft not in the list is added, so it stays visible)."""
        self._filling = True
        try:
            self.mode.setCurrentIndex(max(0, self.mode.findData(prefs.mode)))
            if prefs.draft_folder:
                if self.draft.findData(prefs.draft_folder) < 0:
                    self.draft.addItem(Path(prefs.draft_folder).name, prefs.draft_folder)
                self.draft.setCurrentIndex(self.draft.findData(prefs.draft_folder))
        finally:
            self._filling = False
        self._refresh_draft_enabled()

    def show_drafts(self, folders: list[str], keep: str = "") -> None:
        """The models that can draft for the loaded one; ``keep`` stays selected if listed."""
        self._filling = True
        try:
            self.draft.clear()
            for folder in folders:
                self.draft.addItem(Path(folder).name, folder)
            index = self.draft.findData(keep)
            self.draft.setCurrentIndex(index if index >= 0 else 0)
            self.draft.setPlaceholderText("" if folders else "No compatible model installed")
        finally:
            self._filling = False
        self._refresh_draft_enabled()

    def show_state(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        # A refusal stands out in the error colour (assets/hearth.qss styles the property).
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def set_busy(self, busy: bool) -> None:
        """While a choice is applied on the worker, the controls wait (the window does not)."""
        self.mode.setEnabled(not busy)
        self._refresh_draft_enabled(busy)

    def _refresh_draft_enabled(self, busy: bool = False) -> None:
        self.draft.setEnabled(not busy and self.mode.currentData() == "draft" and self.draft.count() > 0)

    def _on_choice_changed(self) -> None:
        self._refresh_draft_enabled(not self.mode.isEnabled())
        if not self._filling:
            self.chosen.emit(self.choice())
