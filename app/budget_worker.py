"""Measuring the context budget on a thread of its own, so typing never waits for the tokenizer.

``BudgetCounter`` owns one ``QThread`` with a ``BudgetWorker`` on it. The worker asks the
backend for ``context_budget`` (the real tokenizer and chat template) and counts through a
cache: a document's text is the same string on every recount, so each one is tokenized
once per model, not once per keystroke. A thread of its own, not the jobs thread: an
install or a conversion there can run for minutes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.core.events import OverflowPolicy, SamplingParams
from engine.generation.prompt import Turn

log = logging.getLogger(__name__)

CACHE_ENTRIES = 4096  # texts whose token counts are kept (documents, their chunks, messages)
SHUTDOWN_WAIT_MS = 1_000


@dataclass(frozen=True)
class BudgetRequest:
    """One measurement: the chat as it would be sent, with the settings of the moment."""

    request_id: int
    model: str  # the loaded model's path: counts are cached per model
    system_prompt: str
    turns: tuple[Turn, ...]  # the last one is the message being written
    params: SamplingParams
    policy: OverflowPolicy
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


class TokenCache:
    """``count_tokens`` with memory: a text already counted for this model is not counted again."""

    def __init__(self, count: Callable[[str], int], entries: int = CACHE_ENTRIES) -> None:
        self._count, self._entries = count, entries
        self._counts: dict[str, int] = {}
        self.model = ""

    def for_model(self, model: str) -> TokenCache:
        if model != self.model:
            self._counts.clear()
            self.model = model
        return self

    def __call__(self, text: str) -> int:
        found = self._counts.get(text)
        if found is None:
            found = self._counts[text] = self._count(text)
            if len(self._counts) > self._entries:  # drop the oldest entry
                del self._counts[next(iter(self._counts))]
        return found


class BudgetWorker(QObject):
    """Lives on the budget thread; one measurement at a time."""

    measured = Signal(int, object)  # request id, ContextBudget (None: no local model to count with)

    def __init__(self, backend: object) -> None:
        super().__init__()
        self._backend = backend
        self._cache = TokenCache(getattr(backend, "count_tokens", lambda text: max(1, len(text) // 4)))

    @Slot(object)
    def measure(self, request: BudgetRequest) -> None:
        if request.cancel.is_set():
            return  # a newer request is on its way
        measure = getattr(self._backend, "context_budget", None)
        budget = None
        if measure is not None:
            try:
                budget = measure(request.system_prompt, request.turns, request.params, request.policy,
                                 self._cache.for_model(request.model))
            except Exception:  # noqa: BLE001 - the bar is a guide; sending reports the real error
                log.exception("measuring the context budget")
        self.measured.emit(request.request_id, budget)


class BudgetCounter(QObject):
    """The GUI's handle: ``request`` queues a measurement, ``measured`` brings it back."""

    measured = Signal(int, object)
    _requested = Signal(object)

    def __init__(self, backend: object, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = BudgetWorker(backend)
        self._thread = QThread()
        self._thread.setObjectName("hearth-budget")
        self.worker.moveToThread(self._thread)
        self._requested.connect(self.worker.measure)
        self.worker.measured.connect(self.measured)
        self._thread.start()
        self._last: BudgetRequest | None = None

    def request(self, request: BudgetRequest) -> None:
        if self._last is not None:
            self._last.cancel.set()  # still queued: skip it
        self._last = request
        self._requested.emit(request)

    def shutdown(self) -> bool:
        """Stop the thread; False if a measurement outlasted the wait (the thread is then left to end)."""
        if self._last is not None:
            self._last.cancel.set()
        self._thread.quit()
        if self._thread.wait(SHUTDOWN_WAIT_MS):
            return True
        log.warning("the budget thread did not stop in time")
        _ABANDONED.append((self._thread, self.worker))
        return False


_ABANDONED: list[tuple] = []  # held so a running QThread is never destroyed
