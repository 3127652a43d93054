"""The main window: lays out the views and wires them to the controllers.

Chat orchestration lives in ``ChatController``, model management in ``ModelController`` and
the settings panel's handling (and saving the settings file) in ``SettingsController`` (plain
QObjects without widgets); the state they share is a ``Session``. The window owns the dialogs,
the welcome card, the progress dialog, attachments, the settings object and its own geometry. Workers never touch the store or the settings;
they get snapshots and send back events.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app import settings as settings_io
from app import theme
from engine.generation.backend import Backend
from app.attachment_controller import AttachmentController
from app.bench_launcher import BenchLauncher
from app.gil import favour_the_gui_thread
from app.idle_gc import IdleCollector
from app.bridge import Bridge, Failure
from app.budget_controller import BudgetController
from app.chat_controller import ChatController
from app.chat_view import ChatView
from app.chat_menu import install_chat_menu
from app.view_menu import install_view_menu
from app.models_menu import install_models_menu
from app.composer import Composer, why_send_is_off
from app.conversation_list import ConversationList
from app.convert_dialog import ConvertDialog, offer_conversion
from app.drop_overlay import DropOverlay, document_filters
from app.job_progress import JobProgressDialog
from app.metrics_bar import MetricsBar
from app.model_controller import ModelController
from app.model_picker import ModelPicker
from app.preset_bar import PresetBar
from app.recovery import StoreAlerts, open_store
from app.remote_controller import RemoteController
from app.server_controller import ServerController
from app.session import Session
from app.settings_controller import SettingsController
from app.settings_panel import SettingsPanel
from app.speculation_controller import SpeculationController
from app.shortcuts import ShortcutsDialog, install_shortcuts
from app.state import AppState
from app.store import Store
from app.welcome import WelcomeCard
from app.window_state import restore_window, window_state
from engine.core import paths
from engine.core.events import GenerationEvent

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, backend: Backend | None = None, store: Store | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Hearth")
        self.setAcceptDrops(True)
        self.settings, settings_notice = settings_io.load()
        self.store, store_notice = (store, None) if store else open_store(self._confirm)
        favour_the_gui_thread()  # before the workers start running Python
        self.bridge = Bridge(backend, self)
        self.session = Session(self)
        self.idle_gc = IdleCollector(lambda: self.session.state is AppState.IDLE, self)
        self._progress: JobProgressDialog | None = None
        self._welcome: WelcomeCard | None = None
        self._build()
        self.settings_control = SettingsController(self.session, lambda: self.settings, self.settings_panel,
                                                   self.picker, self.chat.add_notice, self)
        self.chats = ChatController(self.session, self.store, self.bridge, lambda: self.settings, self.chat,
                                    self.composer, self.metrics, self.conversations,
                                    lambda title, text: self._confirm(title, text),
                                    lambda title, label, value: self._ask_text(title, label, value), self,
                                    snapshot=self.preset_bar.snapshot)
        save = self.settings_control.schedule_save
        self.models = ModelController(self.session, self.bridge, lambda: self.settings, save,
                                      self.picker, self.metrics, lambda title, text: self._confirm(title, text), self)
        self.attachments = AttachmentController(self.session, self.store, self.bridge, lambda: self.settings,
                                                self.composer, lambda: self.chats.conversation_id, self)
        self.server = ServerController(self.session, self.bridge, lambda: self.settings, save,
                                       self.settings_panel.server, self.metrics, self.models, self)
        self.speculation = SpeculationController(self.session, self.bridge, lambda: self.settings, save,
                                                 self.settings_panel.speculation, self.models, self)
        self.remote = RemoteController(self.models, self.chat.add_notice, self)
        self.budget = BudgetController.for_window(self)  # the context-budget bar above the composer
        self._connect()
        install_shortcuts(self, self.conversations.list, {
            "new_chat": self.chats.new_chat, "find": self.conversations.focus_search,
            "regenerate": self.chats.regenerate, "copy_reply": self.chats.copy_last_reply,
            "escape": self._on_escape_shortcut_activated, "shortcuts": self.show_shortcuts, "quit": self.close,
            "delete_chat": self.chats.delete_selected})
        self.drop_overlay = DropOverlay(self)
        install_models_menu(self)
        install_chat_menu(self)
        install_view_menu(self)
        self.benchmark = BenchLauncher(self)
        self.dark = theme.apply(QApplication.instance()) if QApplication.instance() else False  # type: ignore[arg-type]
        self.chat.set_dark(self.dark)
        QApplication.styleHints().colorSchemeChanged.connect(self._on_color_scheme_changed)
        restore_window(self, self.settings.window)
        self.models.refresh(select=self.settings.last_model)
        if self.settings.last_model in self.picker.folders():  # start with the model used last
            QTimer.singleShot(0, lambda: self.load_model(self.settings.last_model))
        self.settings_control.show()
        self._on_session_state_changed(AppState.IDLE)
        if settings_notice:
            self.chat.add_notice(settings_notice, "info")
        if store_notice:
            self.chat.add_notice(store_notice, "info")
        self._store_alerts = StoreAlerts(self.store, self.chat.add_notice, self)
        self.settings_control.enable_saving()

    # -- what the controllers hold, as the tests and the self-test read it ----------------
    state = property(lambda self: self.session.state)
    loaded = property(lambda self: self.session.loaded)
    loaded_context = property(lambda self: self.session.loaded_context)
    conversation_id = property(lambda self: self.chats.conversation_id)
    replies_finished = property(lambda self: self.chats.replies_finished)
    last_finished: GenerationEvent | None = property(lambda self: self.chats.last_finished)  # type: ignore[assignment]

    def send(self, text: str) -> None:
        self.chats.send(text)

    def load_model(self, folder: str) -> None:
        self.models.load(folder)

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.conversations = ConversationList(self.store)
        self.picker = ModelPicker()
        self.chat = ChatView()
        self.composer = Composer()
        self.metrics = MetricsBar()
        self.settings_panel = SettingsPanel()
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.picker)
        column.addWidget(self.chat, 1)
        self.preset_bar = PresetBar(self.settings,
                                    lambda: self.settings.for_model(self.settings_control.current_model_name()),
                                    lambda: self.chats.conversation_id)
        column.addWidget(self.preset_bar)
        column.addWidget(self.composer)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.conversations)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.settings_panel)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([220, 760, 300])
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.splitter, 1)
        outer.addWidget(self.metrics)
        self.setCentralWidget(root)
        self.resize(1280, 800)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        self.settings_action = QAction("Settings", self, checkable=True, checked=True)
        self.settings_action.toggled.connect(self.settings_panel.setVisible)
        toolbar.addAction(self.settings_action)
        help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = help_menu.addAction("Keyboard shortcuts", self.show_shortcuts)

    def _connect(self) -> None:
        self.session.state_changed.connect(self._on_session_state_changed)
        self.session.status_changed.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.bridge.engine.failed.connect(self._on_worker_failed)
        self.bridge.jobs.failed.connect(self._on_worker_failed)
        self.models.job_started.connect(self._on_models_job_started)
        self.models.job_progressed.connect(self._on_models_job_progressed)
        self.models.job_ended.connect(self._close_progress)
        self.models.models_listed.connect(self._on_models_listed)
        self.models.selection_changed.connect(self.settings_control.show)
        self.models.model_loaded.connect(self._on_models_model_loaded)
        self.models.notice_raised.connect(self.chat.add_notice)
        self.server.notice_raised.connect(self.chat.add_notice)
        self.speculation.notice_raised.connect(self.chat.add_notice)
        self.picker.add_folder_requested.connect(self._on_picker_add_folder_requested)
        self.picker.convert_requested.connect(lambda: self._on_picker_convert_requested())
        self.models.not_a_model.connect(self._on_models_not_a_model)
        self.composer.attach_requested.connect(self._on_composer_attach_requested)
        self.composer.edit.textChanged.connect(self.idle_gc.touched)  # typing postpones full collections
        self.composer.attachments_changed.connect(self.idle_gc.touched)
        self.chat.copied.connect(lambda _t: self.statusBar().showMessage("Copied to the clipboard", 2000))
        self.chats.conversation_changed.connect(self.attachments.update_budget_note)
        self.settings_panel.reload_requested.connect(self.models.reload)
        self.preset_bar.changed.connect(self.settings_control.schedule_save)
        self.conversations.selected.connect(self.preset_bar.show_chat)

    # -- state ----------------------------------------------------------------------------
    def _on_session_state_changed(self, state: AppState) -> None:
        idle = state is AppState.IDLE
        self.composer.set_answering(state.answering, can_send=idle and self.session.loaded is not None,
                                    stopping=state is AppState.STOPPING,
                                    why_not=why_send_is_off(state is AppState.LOADING, self.session.loaded is not None))
        self.composer.attach_button.setEnabled(state is not AppState.LOADING)
        self.picker.set_busy(state is AppState.LOADING, can_change=idle)
        self.conversations.setEnabled(not state.answering)
        self.chat.refresh_actions(idle)
        self.statusBar().showMessage("" if idle else state.value + "…")

    def _on_escape_shortcut_activated(self) -> None:
        # One Esc for the window: it stops a reply, or else cancels an edit in the composer.
        if self.state.answering:
            self.chats.stop()
        else:
            self.composer.cancel_edit()

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self)
        dialog.show()
        return dialog

    # -- models ---------------------------------------------------------------------------
    def _on_models_listed(self, count: int) -> None:
        if not count:
            self._show_welcome()
        elif self._welcome is not None:
            self._welcome.deleteLater()
            self._welcome = None
        self._on_session_state_changed(self.state)

    def _show_welcome(self) -> None:
        if self._welcome is None:
            self._welcome = WelcomeCard()
            self._welcome.install_requested.connect(self.models.install_default)
            self._welcome.add_folder_requested.connect(self._on_picker_add_folder_requested)
            self.chat.column.insertWidget(self.chat.column.count() - 1, self._welcome)

    def _on_models_model_loaded(self, _loaded: object) -> None:
        self.settings_panel.show_reload("")
        self.settings_control.show()
        self.attachments.update_budget_note()

    def _on_picker_add_folder_requested(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.models.register_folder(folder)

    def _on_picker_convert_requested(self, source: str = "") -> ConvertDialog:
        # The dialog shows its own progress and failures, and stays open on failure.
        dialog = ConvertDialog(paths.models_dir(), self.bridge.jobs, self, source)
        dialog.convert_requested.connect(self.bridge.convert_requested.emit)
        dialog.cancel_requested.connect(self.bridge.cancel_job)
        dialog.open()
        return dialog

    def _on_models_not_a_model(self, folder: str, message: str) -> None:
        if not offer_conversion(folder, self._confirm, self._on_picker_convert_requested):
            self.chat.add_notice(f"That folder is not a model Hearth can open: {message}", "error")

    def _on_models_job_started(self, title: str, text: str) -> None:
        self._progress = JobProgressDialog(title, text, self.bridge.cancel_job, self)
        self._progress.show()

    def _on_models_job_progressed(self, text: str, fraction: float | None) -> None:
        if self._progress is not None:
            self._progress.show_progress(text, fraction)

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress.deleteLater()
            self._progress = None

    # -- failures -------------------------------------------------------------------------
    def _on_worker_failed(self, failure: Failure) -> None:
        if failure.kind == "generate":
            self.chats.on_generate_failed(failure.request_id, failure.message)
        elif failure.kind == "extract":
            self.attachments.on_extract_failed(failure.request_id)
            self.chat.add_notice(f"Could not attach {Path(failure.subject).name}: {failure.message}")
        else:
            self.models.on_failed(failure)

    # Dialog hooks, replaced in tests.
    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok else None

    # -- documents ------------------------------------------------------------------------
    def attach_files(self, files: list[str]) -> None:
        self.attachments.attach_files(files)

    def _on_composer_attach_requested(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Attach documents", "", document_filters())
        if files:
            self.attach_files(files)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self.handle_dropped_paths([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])
        event.acceptProposedAction()

    def handle_dropped_paths(self, dropped: list[str]) -> None:
        """Folders are model folders to add; files are documents to attach."""
        files = []
        for path in dropped:
            if Path(path).is_dir():
                self.models.register_folder(path)
            else:
                files.append(path)
        if files:
            self.attach_files(files)

    # -- settings -------------------------------------------------------------------------
    def _on_color_scheme_changed(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            self.dark = theme.apply(app)
            self.chat.set_dark(self.dark)

    # -- window ---------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the workers, keep the partial reply, save the window and settings."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.chats.save_partial()
        self.benchmark.shutdown()
        self.server.shutdown()  # the server first: its streams end cleanly, then the workers stop
        self.budget.shutdown()
        self.bridge.shutdown()
        self.settings.window = window_state(self)
        self.settings_control.save()
        self.store.close()

