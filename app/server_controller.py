"""The local server in the app: Settings → Local server drives it, the metrics bar shows its load.

``ServerWorker`` lives on the engine's thread (beside ``EngineWorker``, so it never races a
load or a reply) and starts or stops the backend's server there; the GUI thread never waits.
``ServerController`` is the GUI side: it keeps the settings, asks for a reload when the
loaded model has the wrong number of KV slots (through the model controller, so the window
shows the load as any other), starts the server once the model is loaded, and polls the
server's load a few times a second with a direct, thread-safe call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.bridge import Bridge, _user_message
from app.metrics_bar import MetricsBar
from app.model_controller import ModelController
from app.server_settings import ServerSection
from app.session import Session
from app.settings import AppSettings
from app.state import AppState

POLL_MS = 250  # the metrics bar's server figures, four times a second
EDIT_DELAY_MS = 700  # a port or slot edit applies once the typing stops


@dataclass(frozen=True)
class ServerRequest:
    port: int
    token: str


class ServerWorker(QObject):
    """Starts and stops the backend's server on the engine's thread."""

    started = Signal(str)  # the URL
    stopped = Signal()
    failed = Signal(str)  # what to tell the user

    def __init__(self, backend: object) -> None:
        super().__init__()
        self.backend = backend

    @Slot(object)
    def start(self, request: ServerRequest) -> None:
        start = getattr(self.backend, "start_server", None)
        if start is None:
            self.failed.emit("This engine cannot serve.")
            return
        try:
            url = start(request.port, request.token)
        except BaseException as exc:  # noqa: BLE001 - every slot reports instead of raising
            self.failed.emit(_user_message(exc))
            return
        self.started.emit(url)

    @Slot()
    def stop(self) -> None:
        try:
            stop = getattr(self.backend, "stop_server", None)
            if stop is not None:
                stop()
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(_user_message(exc))
        self.stopped.emit()


class ServerController(QObject):
    start_requested = Signal(object)  # ServerRequest, queued to the worker
    stop_requested = Signal()
    notice_raised = Signal(str, str)  # text, level

    def __init__(self, session: Session, bridge: Bridge, settings: Callable[[], AppSettings],
                 save_settings: Callable[[], None], section: ServerSection, metrics: MetricsBar,
                 models: ModelController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.bridge, self._settings, self._save = session, bridge, settings, save_settings
        self.section, self.metrics, self.models = section, metrics, models
        self.url = ""  # the server's address while it runs
        self._reload_pending = False
        self.worker = ServerWorker(bridge.engine.backend)
        self.worker.moveToThread(bridge.engine.thread())
        self.start_requested.connect(self.worker.start)
        self.stop_requested.connect(self.worker.stop)
        self.worker.started.connect(self._on_worker_started)
        self.worker.stopped.connect(self._on_worker_stopped)
        self.worker.failed.connect(self._on_worker_failed)
        section.switch_toggled.connect(self._on_section_switch_toggled)
        section.port_changed.connect(lambda v: self._on_section_edited("port", v))
        section.slots_changed.connect(lambda v: self._on_section_edited("slots", v))
        section.token_copied.connect(lambda: session.show_status("Token copied to the clipboard", 2000))
        models.model_loaded.connect(self._on_models_model_loaded)
        bridge.engine.model_unloaded.connect(self._on_engine_model_unloaded)
        session.state_changed.connect(self._on_session_state_changed)
        self._edit_timer = QTimer(self, singleShot=True, interval=EDIT_DELAY_MS)
        self._edit_timer.timeout.connect(self._apply)
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._on_poll_timeout)
        section.show_prefs(self._settings().server)
        self._show_idle()

    @property
    def prefs(self):  # noqa: ANN201 - ServerPrefs
        return self._settings().server

    # -- the user's choices -------------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        """Turn the server on or off (what the switch does)."""
        self.section.show_state(self.section.status.text(), on=on)
        self._on_section_switch_toggled(on)

    def _on_section_switch_toggled(self, on: bool) -> None:
        self.prefs.enabled = on
        self._save()
        if on:
            self._apply()
        else:
            self._reload_pending = False
            self.section.show_state("Stopping…" if self.url else "Off")
            self.stop_requested.emit()

    def _on_section_edited(self, name: str, value: int) -> None:
        setattr(self.prefs, name, value)
        self._save()
        if self.prefs.enabled:
            self._edit_timer.start()  # restart (port) or reload (slots) once the typing stops

    def _apply(self) -> None:
        """Bring the server where the settings want it: reload with the right slots, then start."""
        prefs = self.prefs
        if not prefs.enabled:
            return
        if self.session.loaded is None:
            self.section.show_state("Starts when a model is loaded.")
            return
        if self.models.loaded_slots != prefs.slots:
            if self.session.state is AppState.IDLE:
                self.section.show_state(f"Reloading the model with {prefs.slots} parallel requests…")
                self._reload_pending = False
                self.models.reload()
            else:
                self._reload_pending = True  # after the reply in progress
                self.section.show_state("Waiting for the reply to end to reload the model…")
            return
        if self.url and self.url.endswith(f":{prefs.port}"):
            return  # already serving as asked
        self.section.show_state(f"Starting on port {prefs.port}…")
        self.start_requested.emit(ServerRequest(prefs.port, prefs.token))

    # -- what happened ------------------------------------------------------------------------
    def _on_models_model_loaded(self, _loaded: object) -> None:
        self.url = ""  # a load stops the server of the old model
        self._apply()

    def _on_engine_model_unloaded(self) -> None:
        self._stopped_elsewhere()

    def _on_session_state_changed(self, state: AppState) -> None:
        if state is AppState.LOADING:
            self._stopped_elsewhere()
        elif state is AppState.IDLE and self._reload_pending:
            self._apply()

    def _stopped_elsewhere(self) -> None:
        """The engine stopped the server itself (the model was unloaded or is reloading)."""
        if self.url:
            self.url = ""
            self._poll.stop()
            self.metrics.show_server(None)
        self._show_idle()

    def _on_worker_started(self, url: str) -> None:
        self.url = url
        self.section.show_state(f"Serving at {url}/v1", on=True)
        self.session.show_status(f"Local server running at {url}/v1", 4000)
        self._poll.start()
        self._on_poll_timeout()

    def _on_worker_stopped(self) -> None:
        self.url = ""
        self._poll.stop()
        self.metrics.show_server(None)
        self._show_idle()

    def _on_worker_failed(self, message: str) -> None:
        self.url = ""
        self._poll.stop()
        self.metrics.show_server(None)
        self.prefs.enabled = False
        self._save()
        self.section.show_state("Off", on=False)
        self.notice_raised.emit(f"Could not start the local server: {message}", "error")

    def _show_idle(self) -> None:
        if not self.prefs.enabled:
            self.section.show_state("Off", on=False)
        elif self.session.loaded is None and self.session.state is not AppState.LOADING:
            self.section.show_state("Starts when a model is loaded.", on=True)
        elif self.session.state is AppState.LOADING:
            self.section.show_state("Loading the model…", on=True)

    def _on_poll_timeout(self) -> None:
        load = getattr(self.bridge.engine.backend, "server_load", lambda: None)()
        self.metrics.show_server(load)

    # -- quitting -------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop the server before the workers: its streams end cleanly, no client hangs."""
        self._poll.stop()
        self._edit_timer.stop()
        close = getattr(self.bridge.engine.backend, "close", None)
        if close is not None:
            close()
