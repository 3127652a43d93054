"""Models → Add remote provider: a server kind, a name, a base URL, an API key and a model.

The key goes to the app's ``KeyStore`` (the OS keyring; where there is none, only for this
session and only when the user ticks that box), never to a file. The provider (no key)
goes to ``providers.json``. The model list is ``GET {base}/models``, fetched on a thread
of its own so the window never waits on the network; when it fails the user types an id.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.backend_switch import SCHEME
from engine.core.errors import EngineError
from engine.remote.backend import RemoteBackend
from engine.remote.errors import KeyStoreError
from engine.remote.keys import KeyStore
from engine.remote.providers import PRESETS, Provider, add_provider, load_providers


class _Lister(QObject):
    """Carries a model list from the network thread back to the GUI thread (a queued signal)."""

    finished = Signal(int, object, str)  # attempt, model ids (or None), error text


class RemoteProviderDialog(QDialog):
    provider_added = Signal(str)  # the picker path of the chosen model: remote://name/model

    def __init__(self, keys: KeyStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add remote provider")
        self.setMinimumWidth(520)
        self.keys = keys
        self._attempt = 0
        self._lister = _Lister(self)
        self._lister.finished.connect(self._on_lister_finished)
        form = QFormLayout()
        self.kind = QComboBox()
        for preset in PRESETS.values():
            self.kind.addItem(preset.label, preset.kind)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.name = QLineEdit()
        self.name.setPlaceholderText("gpu-box")
        self.base_url = QLineEdit()
        self.base_url.setPlaceholderText("http://host:8000/v1")
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid);")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("leave empty if the server needs none")
        self.keyring_note = QLabel(keys.notice or "The key is stored in the system keyring, never in a file.")
        self.keyring_note.setWordWrap(True)
        self.session_only = QCheckBox("Keep the key for this session only")
        self.session_only.setVisible(not keys.persistent)
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.lineEdit().setPlaceholderText("list the models, or type a model id")
        self.list_button = QPushButton("List models")
        self.list_button.clicked.connect(self.list_models)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.list_button)
        form.addRow("Server", self.kind)
        form.addRow("", self.hint)
        form.addRow("Name", self.name)
        form.addRow("Base URL", self.base_url)
        form.addRow("API key", self.key)
        form.addRow("", self.keyring_note)
        form.addRow("", self.session_only)
        form.addRow("Model", model_row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("RemoteDialogStatus")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = buttons.addButton("Add", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.add)
        buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addLayout(form)
        column.addWidget(self.status)
        column.addWidget(buttons)
        self._on_kind_changed()

    def fill(self, kind: str, name: str, base_url: str = "", key: str = "") -> None:
        """Set the fields as a user would (tests and the screenshot use it)."""
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self.name.setText(name)
        if base_url:
            self.base_url.setText(base_url)
        self.key.setText(key)

    def _on_kind_changed(self) -> None:
        preset = PRESETS[self.kind.currentData()]
        self.base_url.setText(preset.base_url)
        self.hint.setText(f"Start it with: {preset.server_command}" if preset.server_command else
                          "Any server that speaks the OpenAI chat API.")
        if not self.name.text().strip() or self.name.text() in PRESETS:
            self.name.setText(preset.kind)

    def _provider(self) -> Provider | None:
        """The provider the fields describe, or None (the reason is in ``status``)."""
        name = self.name.text().strip()
        if "/" in name:
            self.show_status("A provider's name cannot contain “/”.", error=True)
            return None
        try:
            return Provider(name=name, base_url=self.base_url.text().strip(), kind=self.kind.currentData(),
                            model=self.model.currentText().strip())
        except EngineError as exc:
            self.show_status(str(exc), error=True)
            return None

    def show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b91c1c;" if error else "")

    # -- the model list ---------------------------------------------------------------------
    def list_models(self) -> None:
        """Ask the server for its models, off the GUI thread."""
        provider = self._provider()
        if provider is None:
            return
        self._attempt += 1
        self.list_button.setEnabled(False)
        self.show_status(f"Asking {provider.host} for its models…")
        key = self.key.text().strip() or None
        threading.Thread(target=self._fetch, args=(self._attempt, provider, key), daemon=True,
                         name="hearth-remote-models").start()

    def _fetch(self, attempt: int, provider: Provider, key: str | None) -> None:
        backend = RemoteBackend(provider, key)
        try:
            ids, error = [m.id for m in backend.list_models()], ""
        except Exception as exc:  # noqa: BLE001 - every failure becomes the dialog's line
            ids, error = None, str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
        finally:
            backend.close()
        try:
            self._lister.finished.emit(attempt, ids, error)
        except RuntimeError:  # the dialog was closed meanwhile
            pass

    def _on_lister_finished(self, attempt: int, ids: list[str] | None, error: str) -> None:
        if attempt != self._attempt:
            return  # an older request (the URL changed since)
        self.list_button.setEnabled(True)
        if ids is None:
            self.show_status(f"Could not list the models: {error} You can type a model id instead.", error=True)
            return
        typed = self.model.currentText().strip()
        self.model.clear()
        self.model.addItems(ids)
        if typed and typed not in ids:
            self.model.setEditText(typed)
        self.show_status(f"{len(ids)} model{'s' if len(ids) != 1 else ''} on the server." if ids else
                         "The server lists no models; type a model id.")

    def _saved(self) -> list[Provider]:
        try:
            return load_providers()
        except EngineError:
            return []  # a damaged file: add_provider says so when it tries to write

    # -- adding -----------------------------------------------------------------------------
    def add(self) -> bool:
        """Store the key and the provider; True when both are saved (the dialog then closes)."""
        provider = self._provider()
        if provider is None:
            return False
        if not provider.model:
            self.show_status("Pick a model (List models) or type its id.", error=True)
            return False
        if any(p.name == provider.name for p in self._saved()):
            self.show_status(f"A provider named “{provider.name}” exists already; pick another name.", error=True)
            return False
        key = self.key.text().strip()
        try:
            if key:
                self.keys.set(provider.name, key, session_only=self.session_only.isChecked())
        except KeyStoreError as exc:
            hint = " Tick “Keep the key for this session only” to go on." if self.session_only.isVisible() else ""
            self.show_status(f"{exc}{hint}", error=True)
            return False
        try:
            add_provider(provider)
        except (EngineError, OSError) as exc:
            self.keys.delete(provider.name)  # no key without its provider
            self.show_status(f"Could not save the provider: {exc}", error=True)
            return False
        self.key.clear()
        self.provider_added.emit(f"{SCHEME}{provider.name}/{provider.model}")
        self.accept()
        return True
