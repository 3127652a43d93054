"""The worker bridge: engine calls run on worker threads, results come back as signals.

``EngineWorker`` lives on one long-lived ``QThread`` and owns the loaded model.
``JobWorker`` lives on a second thread for slow one-off jobs (document extraction,
model folder checks, installing and converting models) so they never queue behind a
generation. Requests arrive through queued slots as frozen dataclasses; results leave
as signals carrying frozen dataclasses. Cancelling is a direct call that sets a
``threading.Event``, never a queued signal, so it works while a slot is busy.
Every slot catches its errors and emits ``failed``; error text never enters the
token stream. The workers never read settings: each request carries its snapshot.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.generation.backend import Backend, Message
from engine.serving.local_chat import ServingBackend  # EngineBackend, plus the local server
from app.backend_switch import BackendSwitch  # the local engine or a remote server
from engine.generation.prompt import compose
from engine.documents.dense import index_document, installed_scorer
from app.speculation_worker import SpeculationWorker
from app.cli_progress import progress_fraction
from app.worker_messages import (  # the window imports these from here too
    ConvertRequest,
    DocumentExtracted,
    ExtractRequest,
    Failure,
    GenerationRequest,
    InstallRequest,
    JobProgress,
    LoadRequest,
    ModelLoaded,
)
from engine.convert import child_process
from engine.core import paths
from engine.core.events import GenerationEvent

log = logging.getLogger(__name__)

__all__ = ["Bridge", "ConvertRequest", "DocumentExtracted", "EngineWorker", "ExtractRequest", "Failure",
           "GenerationRequest", "InstallRequest", "JobProgress", "JobWorker", "LoadRequest", "ModelLoaded"]


def _user_message(exc: BaseException) -> str:
    """The text a person sees: engine errors carry their own; anything else is a bug report."""
    from engine.core.errors import EngineError

    if isinstance(exc, EngineError):
        return str(exc)
    log.error("unexpected error in worker:\n%s", "".join(traceback.format_exception(exc)))
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class EngineWorker(QObject):
    """Owns the loaded model; loads, unloads and generates on its own thread."""

    model_loaded = Signal(object)  # ModelLoaded
    model_unloaded = Signal()
    generation_started = Signal(int)
    prompt_composed = Signal(int, object)  # request id, ComposedPrompt
    prefill_progressed = Signal(int, object)  # request id, PrefillProgress
    token_generated = Signal(int, object)  # request id, GenerationEvent
    generation_finished = Signal(int, object)  # request id, the final GenerationEvent
    failed = Signal(object)  # Failure

    def __init__(self, backend: Backend | None = None) -> None:
        super().__init__()
        self.backend: Backend = backend or BackendSwitch(ServingBackend())
        self._active: GenerationRequest | None = None
        self._lock = threading.Lock()
        # What the engine was last asked, for tests and the "show prompt" debug view.
        self.last_messages: tuple[Message, ...] = ()
        self.last_prompt: str = ""

    # Direct call from any thread.
    def cancel(self) -> None:
        with self._lock:
            if self._active is not None:
                self._active.cancel.set()

    @Slot(object)
    def load(self, request: LoadRequest) -> None:
        try:
            info, report = self.backend.load(request.folder, request.options)
        except BaseException as exc:  # noqa: BLE001 - every slot reports instead of raising
            self.failed.emit(Failure("load", _user_message(exc)))
            self._drop_model_after_failed_load()
            return
        self.model_loaded.emit(ModelLoaded(info, report))

    def _drop_model_after_failed_load(self) -> None:
        # The backend frees the old model before building the new one (two models
        # may not fit in memory), so a failed load leaves none. Unload to make that
        # certain for any backend, and say so, so the window never shows a stale model.
        try:
            self.backend.unload()
        except BaseException:  # noqa: BLE001 - the failure is already reported
            log.exception("unload after a failed load")
        self.model_unloaded.emit()

    @Slot()
    def unload(self) -> None:
        try:
            self.backend.unload()
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(Failure("load", _user_message(exc)))
            return
        self.model_unloaded.emit()

    @Slot(object)
    def generate(self, request: GenerationRequest) -> None:
        rid = request.request_id
        with self._lock:
            self._active = request
        final: GenerationEvent | None = None
        last: GenerationEvent | None = None
        self.generation_started.emit(rid)
        try:
            composed = compose(
                request.system_prompt,
                request.turns,
                self.backend.count_tokens,
                request.context_length,
                request.params.max_new_tokens,
                installed_scorer(),  # BM25 and the embedder together; None: BM25 alone
            )
            self.last_messages = composed.messages
            self.prompt_composed.emit(rid, composed)
            try:
                self.last_prompt = self.backend.render_prompt(composed.messages)
            except Exception:  # noqa: BLE001 - the prompt copy is only for inspection
                self.last_prompt = ""
            events = self.backend.stream(
                composed.messages,
                request.params,
                request.policy,
                request.cancel,
                lambda progress: self.prefill_progressed.emit(rid, progress),
                continue_last=request.continues, prefix_ids=request.prefix_ids,
            )
            for event in events:
                last = event
                if event.finish_reason == "error":
                    self.failed.emit(Failure("generate", event.error or "Generation failed.", rid))
                elif event.text or event.logprobs or (event.notices and event.finish_reason is None):
                    self.token_generated.emit(rid, event)
                if event.finish_reason is not None:
                    final = event
                    break
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(Failure("generate", _user_message(exc), rid))
            final = _closing_event(last, "error", _user_message(exc))
        finally:
            with self._lock:
                self._active = None
        if final is None:  # the stream ended without a reason: treat as cancelled
            final = _closing_event(last, "cancelled" if request.cancel.is_set() else "stop", None)
        self.generation_finished.emit(rid, final)


def _closing_event(last: GenerationEvent | None, reason: str, error: str | None) -> GenerationEvent:
    if last is None:
        return GenerationEvent("", None, 0, 0, 0, 0, 0, finish_reason=reason, error=error)  # type: ignore[arg-type]
    from dataclasses import replace

    return replace(last, text="", token_id=None, finish_reason=reason, error=error)


class JobWorker(QObject):
    """Slow one-off jobs: extract documents, check model folders, install, convert."""

    document_extracted = Signal(object)  # DocumentExtracted
    folder_inspected = Signal(object)  # ModelInfo
    progressed = Signal(object)  # JobProgress
    install_finished = Signal(str)  # the model folder
    convert_finished = Signal(str)
    failed = Signal(object)  # Failure

    def __init__(self, count_tokens: Callable[[str], int]) -> None:
        super().__init__()
        self._count_tokens = count_tokens

    @Slot(object)
    def extract(self, request: ExtractRequest) -> None:
        from engine.documents import ExtractionCancelled, extract

        def progress(done: int, total: int, kind: str = "extract") -> None:
            fraction = done / total if total else None
            self.progressed.emit(JobProgress(kind, Path(request.path).name, fraction, request.request_id))

        try:
            doc = extract(request.path, progress, request.cancel)
            tokens = self._count_tokens(doc.text)
        except ExtractionCancelled:
            return
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(Failure("extract", _user_message(exc), request.request_id, request.path))
            return
        self.document_extracted.emit(DocumentExtracted(request.request_id, doc, tokens))
        # Embedded now, while the question is typed, rather than inside the first answer's wait.
        index_document(doc, self._count_tokens, lambda done, total: progress(done, total, "index"), request.cancel)

    @Slot(str)
    def inspect_folder(self, folder: str) -> None:
        from engine.generation.backend import read_info
        try:
            info = read_info(folder)
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(Failure("inspect", _user_message(exc), subject=folder))
            return
        self.folder_inspected.emit(info)

    @Slot(object)
    def install_default(self, request: InstallRequest | None = None) -> None:
        request = request or InstallRequest()
        if request.catalogue_id:  # a catalogue model rather than the default one
            cmd = child_process.python_module("engine.cli", "models", "pull", request.catalogue_id)
            folder = lambda: str(paths.models_dir() / request.catalogue_id)  # noqa: E731
        else:
            cmd, folder = child_process.python_module("engine.cli", "models", "install-default"), _default_model_dir
        self._run_cli("install", cmd, self.install_finished, folder, request.cancel)

    @Slot(object)
    def convert(self, request: ConvertRequest) -> None:
        # Absolute paths: the child runs in Hearth's cache folder, not in our working directory.
        cmd = child_process.python_module(
            "engine.cli", "convert", os.path.abspath(request.src), "--out", os.path.abspath(request.out_dir),
            "--precision", request.precision, "--provider", request.provider,
        )  # fmt: skip
        self._run_cli("convert", cmd, self.convert_finished, lambda: request.out_dir, request.cancel)

    def _run_cli(self, kind: str, cmd: list[str], done: Any, result: Callable[[], str],
                 cancel: threading.Event) -> None:
        """Run a long engine job as a child process so Cancel can stop it cleanly."""
        if cancel.is_set():  # cancelled while it waited in the queue
            self.failed.emit(Failure(kind, "Cancelled."))
            return
        try:
            from engine.convert.pipeline import require_convert_extra

            require_convert_extra()
            workdir = paths.cache_dir()
            workdir.mkdir(parents=True, exist_ok=True)
            proc = child_process.popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       bufsize=1)
        except BaseException as exc:  # noqa: BLE001
            self.failed.emit(Failure(kind, _user_message(exc)))
            return
        threading.Thread(target=self._terminate_on_cancel, args=(proc, cancel), daemon=True).start()
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail = (tail + [line])[-5:]
                self.progressed.emit(JobProgress(kind, line, progress_fraction(line)))
        code = proc.wait()  # the watcher ends once the process has exited
        if cancel.is_set():
            self.failed.emit(Failure(kind, "Cancelled."))
        elif code != 0:
            self.failed.emit(Failure(kind, "\n".join(tail) or f"{kind} failed (exit code {code})."))
        else:
            done.emit(result())

    @staticmethod
    def _terminate_on_cancel(proc: subprocess.Popen, cancel: threading.Event) -> None:
        while proc.poll() is None:
            if cancel.wait(0.2):
                if proc.poll() is None:
                    proc.terminate()
                return


def _default_model_dir() -> str:
    from engine.runtime.catalog import default_model_dir
    return str(default_model_dir())


# Quitting waits this long for the workers: cancelled work stops well within it.
SHUTDOWN_WAIT_MS = 1_000
# Workers that did not stop at shutdown; held so no running QThread is ever destroyed.
_ABANDONED: list[tuple] = []


class Bridge(QObject):
    """The GUI's handle on the workers: request signals in, worker signals out.

    Emitting a ``*_requested`` signal queues the call onto the worker's thread, so the
    GUI returns at once. ``cancel``, ``cancel_job`` and ``shutdown`` are direct calls.
    The bridge also hears its own job signals (directly, on the GUI thread) to keep
    each queued job's cancel event, so Cancel and quitting reach jobs still queued.
    """

    load_requested = Signal(object)
    unload_requested = Signal()
    generate_requested = Signal(object)
    extract_requested = Signal(object)
    inspect_requested = Signal(str)
    install_default_requested = Signal()
    pull_requested = Signal(str)  # a catalogue id
    convert_requested = Signal(object)
    _install_queued = Signal(object)  # InstallRequest

    def __init__(self, backend: Backend | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = EngineWorker(backend)
        self.jobs = JobWorker(self.engine.backend.count_tokens)
        self._engine_thread = QThread()
        self._engine_thread.setObjectName("hearth-engine")
        self._jobs_thread = QThread()
        self._jobs_thread.setObjectName("hearth-jobs")
        self.engine.moveToThread(self._engine_thread)
        self.jobs.moveToThread(self._jobs_thread)
        self.speculation = SpeculationWorker(self.engine.backend)  # beside the engine: drafts never race a load
        self.speculation.moveToThread(self._engine_thread)
        self.load_requested.connect(self.engine.load)
        self.unload_requested.connect(self.engine.unload)
        self.generate_requested.connect(self.engine.generate)
        self.extract_requested.connect(self.jobs.extract)
        self.inspect_requested.connect(self.jobs.inspect_folder)
        self.install_default_requested.connect(self._on_install_default_requested)
        self.pull_requested.connect(self._on_install_default_requested)
        self._install_queued.connect(self.jobs.install_default)
        self.convert_requested.connect(self.jobs.convert)
        # Cancel events of jobs not yet finished; a job's request (and event) is freed when it ends.
        self._cli_cancels: weakref.WeakSet[threading.Event] = weakref.WeakSet()  # install, convert
        self._extract_cancels: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self.convert_requested.connect(self._on_convert_requested)
        self.extract_requested.connect(self._on_extract_requested)
        self._engine_thread.start()
        self._jobs_thread.start()
        self._current: GenerationRequest | None = None
        self.stopped = False  # both threads have ended (set by shutdown)

    def generate(self, request: GenerationRequest) -> None:
        self._current = request
        self.generate_requested.emit(request)

    def cancel(self) -> None:
        # Setting the request's own event also covers a request still in the queue.
        if self._current is not None:
            self._current.cancel.set()
        self.engine.cancel()

    def _on_convert_requested(self, request: ConvertRequest) -> None:
        self._cli_cancels.add(request.cancel)

    def _on_extract_requested(self, request: ExtractRequest) -> None:
        self._extract_cancels.add(request.cancel)

    def _on_install_default_requested(self, catalogue_id: str = "") -> None:
        request = InstallRequest(catalogue_id)
        self._cli_cancels.add(request.cancel)
        self._install_queued.emit(request)

    def cancel_job(self) -> None:
        """Cancel the installs and conversions that run or wait (the progress dialog's Cancel)."""
        for event in list(self._cli_cancels):
            event.set()

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Cancel what runs or waits, stop both threads; False if one is still busy after the wait.

        Generation, extraction, install and convert stop within moments of their cancel.
        A model load cannot be interrupted inside onnxruntime, so waiting for it would
        only freeze the window: a busy thread is left running (kept referenced, since
        destroying a running QThread aborts) and the caller ends the process
        (app/shutdown.py).
        """
        self.cancel()
        self.cancel_job()
        for event in list(self._extract_cancels):
            event.set()
        threads = (self._engine_thread, self._jobs_thread)
        for thread in threads:
            thread.quit()
        deadline = time.monotonic() + timeout_ms / 1000
        busy = [t for t in threads if not t.wait(max(0, int((deadline - time.monotonic()) * 1000)))]
        for thread in busy:
            log.warning("worker thread %s did not stop in time", thread.objectName())
        if busy:
            _ABANDONED.append((threads, self.engine, self.jobs))
        self.stopped = not busy
        return self.stopped
