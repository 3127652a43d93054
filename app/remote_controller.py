"""Remote providers in the window: the Add dialog, and saying plainly where a chat goes.

A plain ``QObject``: it opens ``RemoteProviderDialog`` from the picker's menu, lists and
loads the model added, and while a remote model is loaded it names the server in the
window title and in a chat notice (with "leaves this machine" unless the server is local).
The model list, loading, streaming and failures go through the same controllers as a
local model's.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from app.backend_switch import is_remote, key_store
from app.model_controller import ModelController
from app.remote_dialog import RemoteProviderDialog
from app.worker_messages import ModelLoaded

TITLE = "Hearth"


class RemoteController(QObject):
    def __init__(self, models: ModelController, notice: Callable[[str, str], None], window: QWidget) -> None:
        super().__init__(window)
        self.models, self._notice, self._window = models, notice, window
        self.dialog: RemoteProviderDialog | None = None
        models.picker.add_remote_requested.connect(self.add_provider)
        models.model_loaded.connect(self._on_models_model_loaded)
        models.bridge.engine.model_unloaded.connect(lambda: window.setWindowTitle(TITLE))

    def add_provider(self) -> RemoteProviderDialog:
        """Open the dialog (non-modal, so the window keeps painting while the server answers)."""
        self.dialog = RemoteProviderDialog(key_store(), self._window)
        self.dialog.provider_added.connect(self._on_dialog_provider_added)
        self.dialog.open()
        return self.dialog

    def _on_dialog_provider_added(self, path: str) -> None:
        self.models.refresh(select=path)
        self.models.load(path)

    def _on_models_model_loaded(self, loaded: ModelLoaded) -> None:
        if not is_remote(loaded.info.path):
            self._window.setWindowTitle(TITLE)
            return
        host = loaded.report.device.removeprefix("remote: ")
        self._window.setWindowTitle(f"{TITLE} — remote: {host}")
        where = host.split(":")[0].strip("[]")
        if where in ("localhost", "127.0.0.1", "::1"):
            text = f"Replies now come from the server at {host}, on this machine."
        else:
            text = (f"Replies now come from {host}. What you send in this chat, documents included, "
                    "leaves this machine.")
        self._notice(text, "info")
