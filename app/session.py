"""What the controllers share: the app's state and the loaded model.

The window listens to ``state_changed`` to enable and disable its controls; the chat and
model controllers read and set the state here rather than on the window.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.state import AppState
from app.worker_messages import ModelLoaded


class Session(QObject):
    state_changed = Signal(object)  # AppState
    status_changed = Signal(str, int)  # a status-bar line and how long it shows (ms, 0 = until replaced)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = AppState.IDLE
        self.loaded: ModelLoaded | None = None
        self.loaded_path = ""
        self.loaded_context = 0

    def set_state(self, state: AppState) -> None:
        self.state = state
        self.state_changed.emit(state)

    def show_status(self, text: str, ms: int = 0) -> None:
        self.status_changed.emit(text, ms)
