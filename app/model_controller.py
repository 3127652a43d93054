"""Model management: the list of model folders, load, reload, unload, install, convert, delete.

A plain ``QObject`` without widgets of its own: it drives the model picker and the metrics
bar it is given, asks the bridge's workers for the slow parts, and tells the window about
long jobs through signals (the window owns the progress dialog and the file dialogs).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.backend_switch import is_remote, key_store, remote_entries, split_remote
from app.bridge import Bridge, ConvertRequest, Failure, JobProgress, LoadRequest, ModelLoaded
from app.metrics_bar import MetricsBar
from app.model_picker import ModelPicker
from app.session import Session
from app.settings import AppSettings as Settings
from app.state import AppState
from engine.core import paths
from engine.core.errors import EngineError
from engine.remote.providers import load_providers, remove_provider


class ModelController(QObject):
    job_started = Signal(str, str)  # title, first line
    job_progressed = Signal(str, object)  # text, fraction (0..1) or None
    job_ended = Signal()
    models_listed = Signal(int)  # how many model folders there are (0: the welcome card)
    selection_changed = Signal()  # the picker shows another model (the settings panel follows)
    model_loaded = Signal(object)  # ModelLoaded
    notice_raised = Signal(str, str)  # text, level
    not_a_model = Signal(str, str)  # a folder added by the user that is no model: folder, why

    def __init__(self, session: Session, bridge: Bridge, settings: Callable[[], Settings],
                 save_settings: Callable[[], None], picker: ModelPicker, metrics: MetricsBar,
                 confirm: Callable[[str, str], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.bridge, self._settings, self._save = session, bridge, settings, save_settings
        self.picker, self.metrics, self._confirm = picker, metrics, confirm
        self._loading_path = ""
        self._loading_slots = self.loaded_slots = 0  # KV slots asked for / of the loaded model
        self._pending_register: set[str] = set()
        e, j = bridge.engine, bridge.jobs
        e.model_loaded.connect(self._on_engine_model_loaded)
        e.model_unloaded.connect(self._on_engine_model_unloaded)
        j.folder_inspected.connect(self._on_jobs_folder_inspected)
        j.progressed.connect(self._on_jobs_progressed)
        j.install_finished.connect(self._on_jobs_install_finished)
        j.convert_finished.connect(self._on_jobs_convert_finished)
        picker.load_requested.connect(self.load)
        picker.unload_requested.connect(self.unload)
        picker.delete_requested.connect(self.delete)
        picker.install_default_requested.connect(self.install_default)
        picker.selection_changed.connect(lambda _path: self.selection_changed.emit())

    # -- the list ---------------------------------------------------------------------------
    def folders(self) -> list[str]:
        from engine.runtime.catalog import installed_models

        folders = [str(p) for p in installed_models()]
        folders += [f for f in self._settings().model_folders if Path(f).is_dir() and f not in folders]
        try:  # remote providers' models last; reading the file costs no network
            self.picker.remotes = remote_entries(load_providers())
        except EngineError as exc:
            self.picker.remotes = {}
            self.notice_raised.emit(str(exc), "error")
        return folders + list(self.picker.remotes)

    def refresh(self, select: str = "") -> None:
        before = self.picker.current()
        folders = self.folders()
        self.picker.set_models(folders, select)
        for folder in folders:
            if folder not in self.picker.infos and not is_remote(folder):
                self.bridge.inspect_requested.emit(folder)
        self.models_listed.emit(len(folders))
        if self.picker.current() != before:
            self.selection_changed.emit()  # set_models changes the selection without the picker's signal

    def register_folder(self, folder: str) -> None:
        """Check a folder on the worker; it joins the list once it opens."""
        self._pending_register.add(folder)
        self.bridge.inspect_requested.emit(folder)

    def _on_jobs_folder_inspected(self, info) -> None:
        self.picker.set_info(info)
        if info.path in self._pending_register:
            self._pending_register.discard(info.path)
            if info.path not in self.folders():
                self._settings().model_folders.append(info.path)
                self._save()
            self.refresh(select=info.path)
            self.session.show_status(f"Added {info.name}", 4000)

    def delete(self, folder: str) -> None:
        if folder == self.picker.loaded_path:
            self.notice_raised.emit("Unload the model before deleting it.", "info")
            return
        if is_remote(folder):
            self._remove_provider(split_remote(folder)[0])
            return
        inside = Path(folder).resolve().is_relative_to(paths.models_dir().resolve())
        question = (f"Delete {Path(folder).name} and its files from disk?" if inside
                    else f"Remove {Path(folder).name} from the list? Its folder stays on disk.")
        if not self._confirm("Delete model", question):
            return
        if inside:
            shutil.rmtree(folder, ignore_errors=True)
        settings = self._settings()
        if folder in settings.model_folders:
            settings.model_folders.remove(folder)
            self._save()
        self.picker.infos.pop(folder, None)
        self.refresh()

    def _remove_provider(self, name: str) -> None:
        if not self._confirm("Remove remote provider", f"Remove the remote provider {name} and its API key? "
                                                       "Chats with its models stay."):
            return
        try:
            remove_provider(name)
            key_store().delete(name)
        except EngineError as exc:
            self.notice_raised.emit(str(exc), "error")
        self.refresh()

    # -- loading ----------------------------------------------------------------------------
    def load(self, folder: str) -> None:
        if self.session.state is not AppState.IDLE:
            return
        options = self._settings().for_model(Path(folder).name).load_options()
        server = self._settings().server  # serving on: one KV slot per parallel request
        options = replace(options, slots=server.slots if server.enabled else 1)
        self._loading_path, self._loading_slots = folder, options.slots
        self.metrics.clear()
        self.session.set_state(AppState.LOADING)
        self.session.show_status(f"Loading {Path(folder).name}…")
        self.bridge.load_requested.emit(LoadRequest(folder, options))

    def reload(self) -> None:
        """Load the loaded model again, to apply new context, provider or thread settings."""
        if self.session.loaded_path:
            self.load(self.session.loaded_path)

    def unload(self) -> None:
        if self.session.state is AppState.IDLE:
            self.bridge.unload_requested.emit()

    def _on_engine_model_loaded(self, loaded: ModelLoaded) -> None:
        settings = self._settings()
        self.session.loaded = loaded
        self.session.loaded_path = self._loading_path
        self.loaded_slots = self._loading_slots
        wanted = settings.for_model(loaded.info.name).context_length  # a server that does not say (0): the setting
        self.session.loaded_context = min(wanted, loaded.info.max_context or wanted)
        self.picker.set_info(loaded.info)
        self.picker.set_loaded(self._loading_path)
        self.metrics.show_report(loaded.report)
        if not is_remote(self._loading_path):  # a remote model is never reached at start without asking
            settings.last_model = self._loading_path
            self._save()
        self.session.set_state(AppState.IDLE)
        self.session.show_status(f"{loaded.info.name} loaded in {loaded.report.load_seconds:.1f} s", 4000)
        self.model_loaded.emit(loaded)

    def _on_engine_model_unloaded(self) -> None:
        self.session.loaded = None
        self.session.loaded_path = ""
        self.loaded_slots = 0
        self.picker.set_loaded("")
        self.metrics.clear()
        self.metrics.show_report(None)
        self.session.set_state(AppState.IDLE)

    # -- install and convert ----------------------------------------------------------------
    def install_default(self) -> None:
        self.job_started.emit("Installing the default model", "Downloading…")
        self.bridge.install_default_requested.emit()

    def pull(self, catalogue_id: str, name: str) -> None:
        """Download a catalogue model (from the hub: the only network use), then load it."""
        self.job_started.emit(f"Downloading {name}", "Connecting to the model hub…")
        self.bridge.pull_requested.emit(catalogue_id)

    def convert(self, request: ConvertRequest) -> None:
        self.job_started.emit(f"Converting {Path(request.src).name}", "Starting…")
        self.bridge.convert_requested.emit(request)

    def _on_jobs_progressed(self, progress: JobProgress) -> None:
        if progress.kind != "extract":
            self.job_progressed.emit(progress.text[-120:], progress.fraction)

    def _on_jobs_install_finished(self, folder: str) -> None:
        self.job_ended.emit()
        self.refresh(select=folder)
        self.load(folder)

    def _on_jobs_convert_finished(self, folder: str) -> None:
        self.refresh(select=folder)
        self.session.show_status(f"Converted model ready: {Path(folder).name}", 5000)

    def on_failed(self, failure: Failure) -> None:
        """Failures of loading, inspecting, installing and converting."""
        if failure.kind == "load":
            self.notice_raised.emit(f"Could not load the model: {failure.message}", "error")
            self.session.set_state(AppState.IDLE)
        elif failure.kind == "inspect":
            if failure.subject in self._pending_register:
                self._pending_register.discard(failure.subject)
                self.not_a_model.emit(failure.subject, failure.message)  # the window may offer to convert
        elif failure.kind == "install":  # the convert dialog shows its own failures
            self.job_ended.emit()
            cancelled = failure.message == "Cancelled."
            self.notice_raised.emit(failure.message if cancelled else
                                    f"{failure.kind.capitalize()} failed: {failure.message}",
                                    "info" if cancelled else "error")
