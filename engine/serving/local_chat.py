"""The app's engine when it also serves: one loaded model for the window's chat and the server.

``ServingBackend`` is ``EngineBackend`` plus a ``LocalServer`` it can start and stop on
the loaded model. While the server runs, the app's own chat is one more request to
the server's ``Scheduler``: its messages are fitted with the overflow policy as
usual, then submitted; the scheduler's thread puts each event on a thread-safe
queue that the chat's generator reads, and the chat's cancel event cancels its
ticket. Without the server the chat runs exactly as ``EngineBackend`` does.

It lives here, not in ``engine/generation``, because serving sits above generation.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.core.errors import EngineError, ModelLoadError
from engine.core.events import GenerationEvent, LoadOptions, LoadReport, ModelInfo, OverflowPolicy, SamplingParams
from engine.generation.backend import EngineBackend, Message, PrefillCallback, SpeculationMode

if TYPE_CHECKING:  # the rest loads onnxruntime: imported where used, on the worker thread
    from engine.serving.scheduler import Scheduler, ServerLoad

LOOPBACK = "127.0.0.1"  # the app's server never listens anywhere else


class ServingBackend(EngineBackend):
    """The loaded model, and optionally a local server on it (``start_server``/``stop_server``).

    ``start_server`` and loads run on the engine's worker thread; ``stop_server`` and
    ``server_load`` are safe from any thread (the GUI polls one and calls the other at quit).
    """

    def __init__(self) -> None:
        super().__init__()
        self._server = None  # LocalServer | None
        self._lock = threading.Lock()
        self._closed = False  # set by close(): the app quits, no server may start any more

    # -- the model --------------------------------------------------------------------------
    def load(self, folder: str, options: LoadOptions) -> tuple[ModelInfo, LoadReport]:
        self.stop_server()  # the server's model is about to be freed
        return super().load(folder, options)

    def unload(self) -> None:
        self.stop_server()
        super().unload()

    @property
    def slots(self) -> int:
        """KV slots of the loaded model (0: none loaded)."""
        model = self.model
        return model.runner.slots if model is not None else 0

    # -- the server ---------------------------------------------------------------------------
    def start_server(self, port: int, api_key: str) -> str:
        """Serve the loaded model on 127.0.0.1:``port``; its URL. Raises ``EngineError`` on failure."""
        from engine.serving.server import LocalServer

        model = self.model
        if model is None:
            raise ModelLoadError("Load a model first: the server serves the loaded model.")
        self.stop_server()
        server = LocalServer(model, model.info.name, LOOPBACK, port, api_key or None,
                             lookup=self.speculation == "lookup")
        try:
            server.start()
        except BaseException:
            server.stop(timeout=2.0)
            raise
        with self._lock:
            closed = self._closed
            if not closed:
                self._server = server
        if closed:  # the app began to quit while the server started
            server.stop(timeout=2.0)
            raise EngineError("Hearth is quitting.")
        return server.url

    def set_speculation(self, mode: SpeculationMode, draft_folder: str | None = None) -> None:
        super().set_speculation(mode, draft_folder)
        server = self._server
        if server is not None:  # the scheduler reads it at its next tick
            server.scheduler.lookup = mode == "lookup"

    def stop_server(self) -> None:
        """End the streams in progress cleanly and close the socket; a no-op when not serving."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    def close(self) -> None:
        """Stop serving for good (the app quits); safe from any thread."""
        with self._lock:
            self._closed = True
        self.stop_server()

    @property
    def serving(self) -> bool:
        return self._server is not None

    def server_load(self) -> ServerLoad | None:
        """Active and queued requests and aggregate tok/s; None when not serving. Never blocks for long."""
        server = self._server  # read once: another thread may stop it
        return server.load() if server is not None else None

    # -- the chat -----------------------------------------------------------------------------
    def stream(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        policy: OverflowPolicy,
        cancel: threading.Event,
        on_prefill: PrefillCallback,
        continue_last: bool = False,
        prefix_ids: Sequence[int] | None = None,
    ) -> Iterator[GenerationEvent]:
        server = self._server
        if server is None:
            return super().stream(messages, params, policy, cancel, on_prefill, continue_last, prefix_ids)
        return stream_through(server.scheduler, list(messages), params, policy, cancel, continue_last, prefix_ids)


def stream_through(
    scheduler: Scheduler,
    messages: list[Message],
    params: SamplingParams,
    policy: OverflowPolicy,
    cancel: threading.Event,
    continue_last: bool = False,
    prefix_ids: Sequence[int] | None = None,
) -> Iterator[GenerationEvent]:
    """Answer ``messages`` as one of the scheduler's sequences (fitted as ``stream_chat`` fits them)."""
    from engine.generation.chat import fit_reply_prompt

    prompt = fit_reply_prompt(scheduler.model, messages, params, policy, cancel, continue_last, prefix_ids)
    if prompt is None:
        return
    ids, fitted = prompt
    events: queue.Queue[GenerationEvent] = queue.Queue()
    scheduler.submit(ids, params, events.put, cancel=cancel)
    while True:
        try:
            event = events.get(timeout=0.5)
        except queue.Empty:
            if not scheduler.running:
                raise EngineError("The server stopped before the reply ended.") from None
            continue
        if fitted.dropped_messages:
            event = replace(event, dropped_messages=fitted.dropped_messages)
        yield event
        if event.finish_reason is not None:
            return
