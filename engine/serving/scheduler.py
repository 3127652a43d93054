"""The serving loop: one thread owns the model and advances every admitted request together.

Requests arrive from any thread through ``submit``; a bounded queue holds those that
wait for a KV slot. The loop admits waiting requests into free slots, then calls
``BatchDecoder.step`` (one decode tick for everyone, then one prefill chunk), and
hands each event to its request's ``deliver`` callback. The callback must not block:
the HTTP layer passes one that puts the event on its event loop's queue, so the
engine never waits on the network.

A cancelled request (a client that went away) leaves the queue, or frees its slot
at the next step.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence as Ids
from dataclasses import dataclass, field

from engine.generation.batching import BatchDecoder
from engine.core.errors import EngineError
from engine.core.events import GenerationEvent, SamplingParams
from engine.generation.generate import check_prompt
from engine.runtime.model import LoadedModel
from engine.generation.sampling import validate

Deliver = Callable[[GenerationEvent], None]


class QueueFullError(EngineError):
    """Every slot is busy and the waiting queue is full; try again shortly."""


class SchedulerStoppedError(EngineError):
    """The server is shutting down and takes no new requests."""


@dataclass
class Ticket:
    """One request as the scheduler sees it."""

    prompt: list[int]
    params: SamplingParams
    deliver: Deliver
    cancel: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class ServerLoad:
    """What the metrics bar shows of the server."""

    active: int
    queued: int
    slots: int
    decode_tps: float  # aggregate, over the last few seconds


class Scheduler:
    """Runs requests on ``model`` in a thread of its own, up to ``model.runner.slots`` at once."""

    def __init__(self, model: LoadedModel, max_queue: int = 64, lookup: bool = False) -> None:
        self.model = model
        self.max_queue = max_queue
        self._batch = BatchDecoder(model, lookup=lookup)  # lookup: speculation while one request decodes
        self._waiting: deque[Ticket] = deque()
        self._running: dict[object, Ticket] = {}  # Sequence -> Ticket
        self._wake = threading.Condition()
        self._stopping = False
        self._tokens: deque[tuple[float, int]] = deque(maxlen=256)  # (time, tokens) per step
        self._thread = threading.Thread(target=self._loop, name="hearth-scheduler", daemon=True)
        self._thread.start()

    @property
    def lookup(self) -> bool:
        """Prompt-lookup speculation while one request decodes alone; may be switched at any time."""
        return self._batch.lookup

    @lookup.setter
    def lookup(self, on: bool) -> None:
        self._batch.lookup = on

    # -- any thread -----------------------------------------------------------------------
    def submit(self, prompt: Ids[int], params: SamplingParams, deliver: Deliver,
               cancel: threading.Event | None = None) -> Ticket:
        """Queue a request; its events go to ``deliver`` from the scheduler's thread.

        ``cancel``: the caller's own event (the app's Stop); setting it ends the request.

        Raises:
            InvalidSamplingError, ContextOverflowError: the request itself is wrong.
            QueueFullError: too many requests wait already.
            SchedulerStoppedError: the server is stopping.
        """
        validate(params)
        check_prompt(prompt, self.model.runner.context_length)
        ticket = Ticket(list(prompt), params, deliver, cancel or threading.Event())
        with self._wake:
            if self._stopping:
                raise SchedulerStoppedError("The server is shutting down.")
            if len(self._waiting) >= self.max_queue:
                raise QueueFullError(f"{len(self._waiting)} requests are already waiting; try again shortly.")
            self._waiting.append(ticket)
            self._wake.notify()
        return ticket

    @property
    def running(self) -> bool:
        """The scheduler's thread still runs (it ends after ``stop`` has closed every request)."""
        return self._thread.is_alive()

    def load(self) -> ServerLoad:
        now = time.perf_counter()
        recent = [(t, n) for t, n in list(self._tokens) if now - t <= 3.0]
        span = now - recent[0][0] if recent else 0.0
        tps = sum(n for _, n in recent) / span if span > 0.2 else 0.0
        with self._wake:
            return ServerLoad(len(self._running), len(self._waiting), self.model.runner.slots, tps)

    def stop(self, timeout: float = 5.0) -> None:
        """Take no new requests, end the running ones (each gets its closing event), stop the thread."""
        with self._wake:
            self._stopping = True
            for ticket in [*self._waiting, *self._running.values()]:
                ticket.cancel.set()
            self._wake.notify()
        self._thread.join(timeout)

    # -- the scheduler's thread -----------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._waiting and not self._batch.busy:
                    self._wake.wait()
                if self._stopping and not self._batch.busy:
                    waiting, self._waiting = list(self._waiting), deque()
                    break
                admitted = self._admit()
            for ticket, event in admitted:
                ticket.deliver(event)
            self._step()
        for ticket in waiting:
            ticket.deliver(_refused(ticket, "cancelled"))

    def _admit(self) -> list[tuple[Ticket, GenerationEvent]]:
        """Move waiting requests into free slots (called with the lock held)."""
        refused = []
        while self._waiting and self._batch.free_slots:
            ticket = self._waiting.popleft()
            if ticket.cancel.is_set():
                refused.append((ticket, _refused(ticket, "cancelled")))
                continue
            seq = self._batch.add(ticket.prompt, ticket.params, ticket.cancel)
            self._running[seq] = ticket
        self._waiting = deque(t for t in self._waiting if not _drop(t, refused))
        return refused

    def _step(self) -> None:
        try:
            events = self._batch.step()
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any one step
            events = []
            for seq, ticket in list(self._running.items()):
                ticket.deliver(_refused(ticket, "error", f"Generation failed: {exc}"))
            self._running.clear()
        produced = 0
        for seq, event in events:
            ticket = self._running.get(seq)
            if ticket is None:
                continue
            produced += event.token_id is not None
            if event.finish_reason is not None:
                with self._wake:
                    self._running.pop(seq, None)
            ticket.deliver(event)
        if produced:
            self._tokens.append((time.perf_counter(), produced))


def _drop(ticket: Ticket, refused: list) -> bool:
    if ticket.cancel.is_set():
        refused.append((ticket, _refused(ticket, "cancelled")))
        return True
    return False


def _refused(ticket: Ticket, reason: str, error: str | None = None) -> GenerationEvent:
    return GenerationEvent("", None, len(ticket.prompt), 0, 0, 0, 0, finish_reason=reason, error=error)  # type: ignore[arg-type]
