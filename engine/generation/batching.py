"""Several sequences in one model: prefill chunks between decode ticks, slots freed at once.

``BatchDecoder.step`` does one unit of work and returns the events it produced:
one decode tick that gives every decoding sequence its next token in a single
session run, then one prefill chunk for the sequence that has waited longest.
Decode goes first, so a long prompt never holds the running streams back by more
than one chunk. A
scheduler (the server's) calls ``add`` and ``step`` at token boundaries, so
requests join and leave while others decode.

With ``lookup=True``, a sequence that decodes alone (nothing else decoding or
prefilling) takes speculative rounds instead of ticks: prompt lookup drafts, one run
checks the drafts (``engine.generation.speculative``). With two or more, ticks resume.

Prefill runs at batch 1 in the sequence's own slot, because ONNX Runtime's CPU
GroupQueryAttention refuses several tokens per row next to a past: prefill rows and
decode rows never share a run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence as Ids
from dataclasses import dataclass, field

from engine.core.errors import EngineError
from engine.core.events import GenerationEvent, SamplingParams
from engine.generation.generate import PREFILL_CHUNK, check_prompt, prefill_chunks
from engine.generation.sampling import validate
from engine.generation.sequence import Sequence
from engine.generation.proposers import PromptLookup
from engine.generation.speculative import Speculator
from engine.runtime.model import LoadedModel


class NoFreeSlotError(EngineError):
    """Every KV slot is busy; the caller queues the request and tries again after a step."""


@dataclass
class _Prefilling:
    seq: Sequence
    chunks: deque[tuple[int, int]] = field(default_factory=deque)


class BatchDecoder:
    """Runs up to ``model.runner.slots`` sequences together."""

    def __init__(self, model: LoadedModel, prefill_chunk: int = PREFILL_CHUNK, lookup: bool = False) -> None:
        self.model = model
        self.runner = model.runner
        self.prefill_chunk = prefill_chunk
        # Prompt-lookup speculation, only while one sequence decodes alone: with two or more,
        # the batched tick already fills the idle compute that speculation would use.
        self.lookup = lookup
        self._speculators: dict[int, Speculator] = {}  # by slot, while its sequence runs
        self._free = set(range(self.runner.slots))
        self._prefilling: deque[_Prefilling] = deque()
        self._decoding: list[Sequence] = []

    @property
    def free_slots(self) -> int:
        return len(self._free)

    @property
    def active(self) -> int:
        """Sequences prefilling or decoding."""
        return len(self._prefilling) + len(self._decoding)

    @property
    def busy(self) -> bool:
        return bool(self._prefilling or self._decoding)

    def add(self, prompt: Ids[int], params: SamplingParams, cancel: threading.Event | None = None) -> Sequence:
        """Take a free slot for ``prompt``; its prefill starts at the next ``step``.

        The free slot whose cache shares the longest prefix with the prompt is taken,
        so a follow-up request reuses what an earlier one left behind.

        Raises:
            NoFreeSlotError: every slot is busy.
            InvalidSamplingError, ContextOverflowError: the request itself is wrong.
        """
        validate(params)
        check_prompt(prompt, self.runner.context_length)
        if not self._free:
            raise NoFreeSlotError(f"All {self.runner.slots} slots are busy.")
        slot = max(sorted(self._free), key=lambda s: self.runner.common_prefix(prompt, s))
        self._free.discard(slot)
        seq = Sequence(self.model, prompt, params, slot, cancel)
        chunks = prefill_chunks(self.runner, slot, seq.prompt, self.prefill_chunk)
        seq.stats.cached_tokens = chunks[0][0]
        self._prefilling.append(_Prefilling(seq, deque(chunks)))
        return seq

    def step(self) -> list[tuple[Sequence, GenerationEvent]]:
        """One decode tick, then one prefill chunk; the events they produced, in order."""
        events: list[tuple[Sequence, GenerationEvent]] = []
        events += self._drop_cancelled()
        if self._decoding:
            events += self._decode_tick()
        if self._prefilling:
            events += self._prefill_one_chunk()
        return events

    # -- internals ------------------------------------------------------------------------
    def _drop_cancelled(self) -> list[tuple[Sequence, GenerationEvent]]:
        # A cancel (a client that went away) frees its slot before the next run.
        ended = [p.seq for p in self._prefilling if p.seq.cancel.is_set()]
        ended += [s for s in self._decoding if s.cancel.is_set()]
        self._prefilling = deque(p for p in self._prefilling if not p.seq.cancel.is_set())
        self._decoding = [s for s in self._decoding if not s.cancel.is_set()]
        return [self._end(seq, seq.finish("cancelled")) for seq in ended]

    def _prefill_one_chunk(self) -> list[tuple[Sequence, GenerationEvent]]:
        job = self._prefilling[0]
        seq = job.seq
        start, end = job.chunks.popleft()
        try:
            logits = self.runner.forward(seq.prompt[start:end], seq.slot)
        except Exception as exc:  # noqa: BLE001 - one request's failure ends that request only
            self._prefilling.popleft()
            return [self._end(seq, seq.finish("error", _message(exc)))]
        if job.chunks:
            return []
        self._prefilling.popleft()
        seq.stats.prefill_end = time.perf_counter()
        return self._after_step(seq, seq.step(logits, self.runner.last_argmax), joining=True)

    def _decode_tick(self) -> list[tuple[Sequence, GenerationEvent]]:
        decoding = self._decoding
        if self.lookup and len(decoding) == 1 and not self._prefilling:
            return self._speculative_round(decoding[0])
        try:
            logits = self.runner.decode_tick([s.slot for s in decoding], [s.tokens[-1] for s in decoding])
        except Exception as exc:  # noqa: BLE001 - the batch failed: every member ends with the reason
            self._decoding = []
            return [self._end(seq, seq.finish("error", _message(exc))) for seq in decoding]
        argmax = self.runner.tick_argmax if self.runner.has_argmax else None
        events: list[tuple[Sequence, GenerationEvent]] = []
        for seq in decoding:
            chosen = int(argmax[seq.slot]) if argmax is not None else None
            events += self._after_step(seq, seq.step(logits[seq.slot], chosen), joining=False)
        self._decoding = [s for s in decoding if not s.done]
        return events

    def _speculative_round(self, seq: Sequence) -> list[tuple[Sequence, GenerationEvent]]:
        speculator = self._speculators.get(seq.slot)
        if speculator is None:  # the sequence's first round: its own adaptive k
            speculator = self._speculators[seq.slot] = Speculator(PromptLookup(), seq.params)
        try:
            produced = list(speculator.round(seq))
        except Exception as exc:  # noqa: BLE001 - as a failed tick: the sequence ends with the reason
            self._decoding = []
            return [self._end(seq, seq.finish("error", _message(exc)))]
        events = self._after_step(seq, produced, joining=False)
        self._decoding = [s for s in self._decoding if not s.done]
        return events

    def _after_step(
        self, seq: Sequence, produced: list[GenerationEvent], joining: bool
    ) -> list[tuple[Sequence, GenerationEvent]]:
        if seq.done:
            self._release(seq)
        elif joining:
            self._decoding.append(seq)
        return [(seq, event) for event in produced]

    def _end(self, seq: Sequence, event: GenerationEvent) -> tuple[Sequence, GenerationEvent]:
        self._release(seq)
        return seq, event

    def _release(self, seq: Sequence) -> None:
        self._free.add(seq.slot)
        self._speculators.pop(seq.slot, None)


def _message(exc: BaseException) -> str:
    if isinstance(exc, EngineError):
        return str(exc)
    return f"Generation failed: {exc.__class__.__name__}: {exc}"
