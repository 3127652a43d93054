"""The main window: wires the views to the bridge, the store and the settings.

The window owns the state (``AppState``) and is the only writer of the store and the
settings file. Workers never touch either; they get snapshots and send back events.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app import settings as settings_io
from app import theme
from app.backend import Backend
from app.bridge import (
    Bridge,
    ConvertRequest,
    DocumentExtracted,
    ExtractRequest,
    Failure,
    GenerationRequest,
    JobProgress,
    LoadRequest,
    ModelLoaded,
)
from app.chat_view import ChatView, MessageWidget
from app.chat_menu import install_chat_menu
from app.composer import Composer, PendingAttachment, why_send_is_off
from app.conversation_list import ConversationList
from app.drop_overlay import DropOverlay, document_filters
from app.convert_dialog import ConvertDialog, offer_conversion
from app.metrics_bar import MetricsBar, footer_text, stats_of
from app.model_picker import ModelPicker
from app.preset_bar import PresetBar
from app.prompt import ComposedPrompt, Turn, document_budget
from app.recovery import StoreAlerts, database_guarded, open_store
from app.settings_panel import SettingsPanel
from app.state import AppState
from app.store import Attachment, Store
from app.window_conversations import ConversationCommands
from engine import paths
from engine.events import GenerationEvent, PrefillProgress

log = logging.getLogger(__name__)

SAVE_EVERY_TOKENS = 8  # a crash loses at most this many streamed tokens
SAVE_EVERY_SECONDS = 1.0


class MainWindow(ConversationCommands, QMainWindow):
    def __init__(self, backend: Backend | None = None, store: Store | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Hearth")
        self.setAcceptDrops(True)
        self.settings, settings_notice = settings_io.load()
        self.store, store_notice = (store, None) if store else open_store(self._confirm)
        self.bridge = Bridge(backend, self)
        self.state = AppState.IDLE
        self.conversation_id: int | None = None
        self.loaded: ModelLoaded | None = None
        self.loaded_context = 0
        self._loading_path = ""
        self._request_id = 0
        self.replies_finished = 0  # how many replies ended (tests and the self-test wait on it)
        self.last_finished: GenerationEvent | None = None
        self._attach_id = 0
        self._extracting: dict[int, ExtractRequest] = {}  # still being read, by request id
        self._reply: MessageWidget | None = None
        self._reply_text = ""
        self._unsaved_tokens = 0
        self._last_save = 0.0
        self._last_event: GenerationEvent | None = None
        self._pending_register: set[str] = set()
        self._progress: QProgressDialog | None = None
        self._welcome: QFrame | None = None
        self._build()
        self._connect()
        self.drop_overlay = DropOverlay(self)
        install_chat_menu(self)
        self.dark = theme.apply(QApplication.instance()) if QApplication.instance() else False  # type: ignore[arg-type]
        self.chat.set_dark(self.dark)
        QApplication.styleHints().colorSchemeChanged.connect(self._on_color_scheme_changed)
        self._restore_window()
        self._refresh_models(select=self.settings.last_model)
        if self.settings.last_model in self.model_folders():  # start with the model used last
            QTimer.singleShot(0, lambda: self.load_model(self.settings.last_model))
        self._show_settings()
        self._set_state(AppState.IDLE)
        if settings_notice:
            self.chat.add_notice(settings_notice, "info")
        if store_notice:
            self.chat.add_notice(store_notice, "info")
        self._store_alerts = StoreAlerts(self.store, self.chat.add_notice, self)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(300)
        self._save_timer.timeout.connect(self._save_settings)

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
        self.preset_bar = PresetBar(self.settings, lambda: self.settings.for_model(self._current_model_name()),
                                    lambda: self.conversation_id)
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
        QShortcut(QKeySequence.StandardKey.New, self, activated=self._on_conversations_new_requested)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self._on_composer_stop_requested)

    def _connect(self) -> None:
        e, j = self.bridge.engine, self.bridge.jobs
        e.model_loaded.connect(self._on_engine_model_loaded)
        e.model_unloaded.connect(self._on_engine_model_unloaded)
        e.prompt_composed.connect(self._on_engine_prompt_composed)
        e.prefill_progressed.connect(self._on_engine_prefill_progressed)
        e.token_generated.connect(self._on_engine_token_generated)
        e.generation_finished.connect(self._on_engine_generation_finished)
        e.failed.connect(self._on_worker_failed)
        j.failed.connect(self._on_worker_failed)
        j.document_extracted.connect(self._on_jobs_document_extracted)
        j.folder_inspected.connect(self._on_jobs_folder_inspected)
        j.progressed.connect(self._on_jobs_progressed)
        j.install_finished.connect(self._on_jobs_install_finished)
        j.convert_finished.connect(self._on_jobs_convert_finished)
        self.picker.load_requested.connect(self.load_model)
        self.picker.unload_requested.connect(self._on_picker_unload_requested)
        self.picker.add_folder_requested.connect(self._on_picker_add_folder_requested)
        self.picker.convert_requested.connect(lambda: self._on_picker_convert_requested())
        self.picker.delete_requested.connect(self._on_picker_delete_requested)
        self.picker.install_default_requested.connect(self.install_default_model)
        self.picker.selection_changed.connect(lambda _p: self._show_settings())
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self._on_composer_stop_requested)
        self.composer.attach_requested.connect(self._on_composer_attach_requested)
        self.composer.attachment_removed.connect(self._on_composer_attachment_removed)
        self.chat.regenerate_requested.connect(self.regenerate)
        self.chat.edit_requested.connect(self._on_chat_edit_requested)
        self.chat.copied.connect(lambda _t: self.statusBar().showMessage("Copied to the clipboard", 2000))
        self.conversations.selected.connect(self.open_conversation)
        self.conversations.new_requested.connect(self._on_conversations_new_requested)
        self.conversations.rename_requested.connect(self._on_conversations_rename_requested)
        self.conversations.delete_requested.connect(self._on_conversations_delete_requested)
        self.settings_panel.value_changed.connect(self._on_settings_value_changed)
        self.settings_panel.override_toggled.connect(self._on_settings_override_toggled)
        self.settings_panel.reset_requested.connect(self._on_settings_reset_requested)
        self.preset_bar.changed.connect(self._schedule_save)
        self.conversations.selected.connect(self.preset_bar.show_chat)
        self.settings_panel.reload_requested.connect(lambda: self.load_model(self.picker.loaded_path))

    # -- state ----------------------------------------------------------------------------
    def _set_state(self, state: AppState) -> None:
        self.state = state
        idle = state is AppState.IDLE
        self.composer.set_answering(state.answering, can_send=idle and self.loaded is not None,
                                    stopping=state is AppState.STOPPING,
                                    why_not=why_send_is_off(state is AppState.LOADING, self.loaded is not None))
        self.composer.attach_button.setEnabled(state is not AppState.LOADING)
        self.picker.set_busy(state is AppState.LOADING, can_change=idle)
        self.conversations.setEnabled(not state.answering)
        self.chat.refresh_actions(idle)
        self.statusBar().showMessage("" if idle else state.value + "…")

    # -- models ---------------------------------------------------------------------------
    def model_folders(self) -> list[str]:
        from engine.catalog import installed_models

        folders = [str(p) for p in installed_models()]
        folders += [f for f in self.settings.model_folders if Path(f).is_dir() and f not in folders]
        return folders

    def _refresh_models(self, select: str = "") -> None:
        folders = self.model_folders()
        self.picker.set_models(folders, select)
        for folder in folders:
            if folder not in self.picker.infos:
                self.bridge.inspect_requested.emit(folder)
        if not folders:
            self._show_welcome()
        elif self._welcome is not None:
            self._welcome.deleteLater()
            self._welcome = None
        self._set_state(self.state)

    def _show_welcome(self) -> None:
        if self._welcome is not None:
            return
        frame = QFrame()
        frame.setObjectName("Welcome")
        layout = QVBoxLayout(frame)
        text = QLabel(
            "<b>Welcome to Hearth.</b><br>No models are installed yet. Install the small default model "
            "(SmolLM2-135M-Instruct, about 110 MiB) to start chatting, or add a model folder you already have."
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        row = QHBoxLayout()
        install = QPushButton("Install the default model")
        install.clicked.connect(self.install_default_model)
        add = QPushButton("Add model folder…")
        add.clicked.connect(self._on_picker_add_folder_requested)
        row.addWidget(install)
        row.addWidget(add)
        row.addStretch(1)
        layout.addLayout(row)
        self.chat.column.insertWidget(self.chat.column.count() - 1, frame)
        self._welcome = frame

    def load_model(self, folder: str) -> None:
        if self.state is not AppState.IDLE:
            return
        options = self.settings.for_model(Path(folder).name).load_options()
        self._loading_path = folder
        self._set_state(AppState.LOADING)
        self.statusBar().showMessage(f"Loading {Path(folder).name}…")
        self.bridge.load_requested.emit(LoadRequest(folder, options))

    def register_model_folder(self, folder: str) -> None:
        """Check a folder on the worker; it joins the list once it opens."""
        self._pending_register.add(folder)
        self.bridge.inspect_requested.emit(folder)

    def install_default_model(self) -> None:
        self._open_progress("Installing the default model", "Downloading…")
        self.bridge.install_default_requested.emit()

    def _on_engine_model_loaded(self, loaded: ModelLoaded) -> None:
        self.loaded = loaded
        self.loaded_context = min(self.settings.for_model(loaded.info.name).context_length, loaded.info.max_context)
        self.picker.set_info(loaded.info)
        self.picker.set_loaded(self._loading_path)
        self.metrics.show_report(loaded.report)
        self.settings.last_model = self._loading_path
        self._schedule_save()
        self._set_state(AppState.IDLE)
        self.settings_panel.show_reload("")
        self._show_settings()
        self.statusBar().showMessage(f"{loaded.info.name} loaded in {loaded.report.load_seconds:.1f} s", 4000)
        self._update_budget_note()

    def _on_engine_model_unloaded(self) -> None:
        self.loaded = None
        self.picker.set_loaded("")
        self.metrics.show_report(None)
        self._set_state(AppState.IDLE)

    def _on_picker_unload_requested(self) -> None:
        if self.state is AppState.IDLE:
            self.bridge.unload_requested.emit()

    def _on_jobs_folder_inspected(self, info) -> None:
        self.picker.set_info(info)
        if info.path == self.picker.current():
            self._show_settings()  # the context field is bounded by this model's maximum
        if info.path in self._pending_register:
            self._pending_register.discard(info.path)
            if info.path not in self.model_folders():
                self.settings.model_folders.append(info.path)
                self._schedule_save()
            self._refresh_models(select=info.path)
            self.statusBar().showMessage(f"Added {info.name}", 4000)

    def _on_picker_add_folder_requested(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.register_model_folder(folder)

    def _on_picker_convert_requested(self, source: str = "") -> ConvertDialog:
        # The dialog shows its own progress and failures, and stays open on failure.
        dialog = ConvertDialog(paths.models_dir(), self.bridge.jobs, self, source)
        dialog.convert_requested.connect(self.bridge.convert_requested.emit)
        dialog.cancel_requested.connect(self.bridge.cancel_job)
        dialog.open()
        return dialog

    def _on_picker_delete_requested(self, folder: str) -> None:
        if folder == self.picker.loaded_path:
            self.chat.add_notice("Unload the model before deleting it.", "info")
            return
        inside = Path(folder).resolve().is_relative_to(paths.models_dir().resolve())
        question = (f"Delete {Path(folder).name} and its files from disk?" if inside
                    else f"Remove {Path(folder).name} from the list? Its folder stays on disk.")
        if not self._confirm("Delete model", question):
            return
        if inside:
            shutil.rmtree(folder, ignore_errors=True)
        if folder in self.settings.model_folders:
            self.settings.model_folders.remove(folder)
            self._schedule_save()
        self.picker.infos.pop(folder, None)
        self._refresh_models()

    def _open_progress(self, title: str, text: str) -> None:
        dialog = QProgressDialog(text, "Cancel", 0, 100, self)
        dialog.setWindowTitle(title)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setValue(0)
        dialog.canceled.connect(self.bridge.cancel_job)
        dialog.show()
        self._progress = dialog

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress.deleteLater()
            self._progress = None

    def _on_jobs_progressed(self, progress: JobProgress) -> None:
        if progress.kind == "extract":
            return
        if self._progress is not None:
            self._progress.setLabelText(progress.text[-120:])
            if progress.fraction is not None:
                self._progress.setValue(int(progress.fraction * 100))

    def _on_jobs_install_finished(self, folder: str) -> None:
        self._close_progress()
        self._refresh_models(select=folder)
        self.load_model(folder)

    def _on_jobs_convert_finished(self, folder: str) -> None:
        self._close_progress()
        self._refresh_models(select=folder)
        self.statusBar().showMessage(f"Converted model ready: {Path(folder).name}", 5000)

    # -- failures -------------------------------------------------------------------------
    def _on_worker_failed(self, failure: Failure) -> None:
        if failure.kind == "load":
            self.chat.add_notice(f"Could not load the model: {failure.message}")
            self._set_state(AppState.IDLE)
        elif failure.kind == "generate":
            if failure.request_id == self._request_id:
                self.chat.add_notice(failure.message)
        elif failure.kind == "extract":
            self.composer.remove_attachment(failure.request_id)
            self.chat.add_notice(f"Could not attach {Path(failure.subject).name}: {failure.message}")
        elif failure.kind == "inspect":
            if failure.subject in self._pending_register:
                self._pending_register.discard(failure.subject)
                if not offer_conversion(failure.subject, self._confirm, self._on_picker_convert_requested):
                    self.chat.add_notice(f"That folder is not a model Hearth can open: {failure.message}")
        elif failure.kind == "install":  # the convert dialog shows its own failures
            self._close_progress()
            self.chat.add_notice(failure.message if failure.message == "Cancelled." else
                                 f"{failure.kind.capitalize()} failed: {failure.message}",
                                 "info" if failure.message == "Cancelled." else "error")

    # Dialog hooks, replaced in tests.
    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _ask_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok else None

    # -- chatting -------------------------------------------------------------------------
    @database_guarded("Could not save your message: {problem}. Nothing was sent; try again in a moment.")
    def send(self, text: str) -> None:
        """Send ``text`` (with the attached documents) and start the reply."""
        if self.state is not AppState.IDLE:
            return
        if self.loaded is None:
            self.chat.add_notice("Load a model first: pick one at the top and press Load.", "info")
            return
        if self.composer.extracting():
            self.chat.add_notice("Still reading the attached files; send again in a moment.", "info")
            return
        attachments = tuple(Attachment.of(a.document, a.tokens) for a in self.composer.ready_documents() if a.document)
        editing = self.composer.editing_message
        if editing is not None and self.conversation_id is not None and not attachments:
            old = next((m for m in self.store.messages(self.conversation_id) if m.id == editing), None)
            attachments = old.attachments if old else ()
        # One transaction; if it fails, nothing below runs and the text stays in the composer.
        sent = self.store.begin_exchange(self.conversation_id, _title_from(text), text, self.loaded.info.name,
                                         attachments, replace_from=editing)
        self.conversation_id = sent.conversation_id
        if editing is not None:
            self.chat.remove_from(editing)
            self.composer.end_edit()
        self.chat.add_message(sent.message_id, "user", text, "You",
                              [f"{a.name} ({a.tokens:,} tokens)" for a in attachments])
        self.composer.set_text("")
        self.composer.clear_attachments()
        self.conversations.reload(select=self.conversation_id)
        self._start_reply(sent.reply_id)

    @database_guarded("Could not start a new reply: {problem}. The old one is kept; try again in a moment.")
    def regenerate(self) -> None:
        """Write the last reply again (the engine's cache keeps the prompt)."""
        if self.state is not AppState.IDLE or self.conversation_id is None or self.loaded is None:
            return
        messages = self.store.messages(self.conversation_id)
        if not messages or messages[-1].role != "assistant":
            return
        reply_id = self.store.restart_reply(self.conversation_id, messages[-1].id, self.loaded.info.name)
        self.chat.remove_from(messages[-1].id)
        self._start_reply(reply_id)

    def stop(self) -> None:
        if self.state in (AppState.PREFILLING, AppState.GENERATING):
            self.bridge.cancel()
            self._set_state(AppState.STOPPING)

    def _on_composer_stop_requested(self) -> None:
        self.stop()

    def _on_chat_edit_requested(self, message_id: int) -> None:
        if self.state is not AppState.IDLE:
            return
        widget = next((m for m in self.chat.messages if m.message_id == message_id), None)
        if widget is not None:
            self.composer.begin_edit(message_id, widget.text)

    def _start_reply(self, reply_id: int) -> None:
        """Stream into the empty reply ``reply_id``, already saved; reads only from here on."""
        assert self.conversation_id is not None and self.loaded is not None
        history = self.store.messages(self.conversation_id)
        turns = tuple(Turn(m.role, m.content, tuple(a.document() for a in m.attachments))
                      for m in history if m.role in ("user", "assistant") and m.id != reply_id)
        model = self.loaded.info.name
        snapshot = self.preset_bar.snapshot(model, self.conversation_id)
        self._reply = self.chat.add_message(reply_id, "assistant", "", model)
        self._reply_text = ""
        self._unsaved_tokens = 0
        self._last_save = time.monotonic()
        self._last_event = None
        self.chat.begin_stream(self._reply)
        self.metrics.reset()
        self._request_id += 1
        self.bridge.generate(GenerationRequest(
            self._request_id, turns, snapshot.sampling(), snapshot.overflow_policy,  # type: ignore[arg-type]
            snapshot.system_prompt, self.loaded_context,
        ))
        self._set_state(AppState.PREFILLING)

    def _on_engine_prompt_composed(self, request_id: int, composed: ComposedPrompt) -> None:
        if request_id == self._request_id and composed.omitted:
            self.chat.add_notice("The attachments did not fit the context, so only their most relevant parts "
                                 "were used. Left out: " + "; ".join(composed.omitted), "info")

    def _on_engine_prefill_progressed(self, request_id: int, progress: PrefillProgress) -> None:
        if request_id == self._request_id:
            self.metrics.show_prefill(progress)

    def _on_engine_token_generated(self, request_id: int, event: GenerationEvent) -> None:
        if request_id != self._request_id or self._reply is None:
            return
        if self.state is AppState.PREFILLING:
            self._set_state(AppState.GENERATING)
        self._reply_text += event.text
        self._last_event = event
        self.chat.append_stream(event.text)
        self.metrics.show_event(event)
        self._unsaved_tokens += 1
        now = time.monotonic()
        if self._unsaved_tokens >= SAVE_EVERY_TOKENS or now - self._last_save >= SAVE_EVERY_SECONDS:
            self.store.update_message(self._reply.message_id, self._reply_text)
            self._unsaved_tokens, self._last_save = 0, now

    def _on_engine_generation_finished(self, request_id: int, event: GenerationEvent) -> None:
        if request_id != self._request_id or self._reply is None:
            return
        reply = self._reply
        self._reply = None
        self.chat.end_stream()
        self.metrics.show_event(event)
        self.last_finished = event
        if not self._reply_text and event.finish_reason == "error":
            self.store.drop_reply(reply.message_id)  # queued: a locked or full disk must not stop us here
            self.chat.remove_message(reply)
        else:
            stats = stats_of(event)
            self.store.update_message(reply.message_id, self._reply_text, stats, event.finish_reason, complete=True)
            reply.set_footer(footer_text(event))
        if event.finish_reason == "context_full":
            self.chat.add_notice("The context is full. Start a new chat, raise the context length, "
                                 "or choose another overflow policy in Settings.", "info")
        if event.dropped_messages:
            self.chat.add_notice(f"{event.dropped_messages} older messages were left out to fit the context.", "info")
        self.replies_finished += 1
        self._set_state(AppState.IDLE)

    # -- documents ------------------------------------------------------------------------
    def attach_files(self, files: list[str]) -> None:
        for file in files:
            self._attach_id += 1
            self.composer.add_attachment(PendingAttachment(self._attach_id, Path(file).name))
            request = ExtractRequest(self._attach_id, file)
            self._extracting[request.request_id] = request
            self.bridge.extract_requested.emit(request)

    def _on_composer_attachment_removed(self, request_id: int) -> None:
        # A chip removed while its file is read stops the reading (the readers check this event).
        request = self._extracting.pop(request_id, None)
        if request is not None:
            request.cancel.set()
        self._update_budget_note()

    def _on_composer_attach_requested(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Attach documents", "", document_filters())
        if files:
            self.attach_files(files)

    def _on_jobs_document_extracted(self, extracted: DocumentExtracted) -> None:
        self._extracting.pop(extracted.request_id, None)
        if extracted.request_id not in self.composer.attachments:
            return  # removed while it was being read
        doc = extracted.document
        self.composer.add_attachment(PendingAttachment(extracted.request_id, doc.name, doc, extracted.tokens))
        self._update_budget_note()

    def _update_budget_note(self) -> None:
        docs = self.composer.ready_documents()
        if not docs:
            self.composer.show_budget_note("")
            return
        total = sum(a.tokens for a in docs)
        snapshot = self.settings.for_model(self.loaded.info.name if self.loaded else None)
        context = self.loaded_context or snapshot.context_length
        history = 0
        if self.conversation_id is not None:
            history = sum(len(m.content) // 4 + 16 for m in self.store.messages(self.conversation_id))
        budget = document_budget(context, snapshot.max_new_tokens, history)
        if total <= budget:
            self.composer.show_budget_note(f"Attachments: {total:,} tokens; they fit whole.")
        else:
            self.composer.show_budget_note(
                f"Attachments: {total:,} tokens, but only about {budget:,} fit the context. Hearth will use the "
                "parts most relevant to your question and tell you what it left out.")

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
                self.register_model_folder(path)
            else:
                files.append(path)
        if files:
            self.attach_files(files)

    # -- settings -------------------------------------------------------------------------
    def _current_model_name(self) -> str:
        return Path(self.picker.current()).name if self.picker.current() else ""

    def _show_settings(self) -> None:
        name = self._current_model_name()
        self.settings_panel.show_settings(self.settings.for_model(name), name, name in self.settings.overrides)
        self.picker.context_length = self.settings.for_model(name).context_length
        self.picker.set_models(self.picker.folders())
        current = self.picker.current()
        live = self.loaded if self.loaded and (not current or self.picker.loaded_path == current) else None
        info = live.info if live else self.picker.infos.get(current)
        self.settings_panel.set_context_limit(info.max_context if info else None, info.name if info else name,
                                              self.loaded_context if live else None)

    def _on_settings_value_changed(self, name: str, value: object, model: str) -> None:
        try:
            self.settings.set_value(name, value, model or None)
        except ValueError as exc:
            self.chat.add_notice(str(exc))
            return
        self._schedule_save()
        if name in ("context_length", "provider", "threads") and self.loaded is not None:
            self.settings_panel.show_reload("The new context length, provider or threads apply when the model "
                                            "loads again.")
        if name == "context_length":
            self.picker.context_length = int(value)  # type: ignore[arg-type]
            self.picker.set_models(self.picker.folders())

    def _on_settings_override_toggled(self, checked: bool) -> None:
        name = self._current_model_name()
        if checked:
            self.settings.overrides.setdefault(name, {})
        else:
            self.settings.clear_overrides(name)
        self._schedule_save()
        self._show_settings()

    def _on_settings_reset_requested(self) -> None:
        self.settings.reset()
        self._schedule_save()
        self._show_settings()

    def _schedule_save(self) -> None:
        if hasattr(self, "_save_timer"):
            self._save_timer.start()

    def _save_settings(self) -> None:
        try:
            settings_io.save(self.settings)
        except OSError as exc:
            self.chat.add_notice(f"Could not save settings: {exc}")

    def _on_color_scheme_changed(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            self.dark = theme.apply(app)
            self.chat.set_dark(self.dark)

    # -- window ---------------------------------------------------------------------------
    def _restore_window(self) -> None:
        w = self.settings.window
        if w.get("geometry"):
            self.restoreGeometry(QByteArray.fromBase64(w["geometry"].encode()))
        if w.get("splitter"):
            self.splitter.restoreState(QByteArray.fromBase64(w["splitter"].encode()))
        if w.get("settings_visible") == "0":
            self.settings_action.setChecked(False)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the workers, keep the partial reply, save the window and settings."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        if self._reply is not None:
            self.store.update_message(self._reply.message_id, self._reply_text)
        self.bridge.shutdown()
        self.settings.window = {
            "geometry": bytes(self.saveGeometry().toBase64().data()).decode(),
            "splitter": bytes(self.splitter.saveState().toBase64().data()).decode(),
            "settings_visible": "1" if self.settings_action.isChecked() else "0",
        }
        self._save_timer.stop()
        self._save_settings()
        self.store.close()


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 48 else line[:47].rstrip() + "…"

