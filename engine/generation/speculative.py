"""Speculative decoding: a proposer drafts k tokens, the model checks them all in one run.

The model runs the last accepted token plus the k drafts in one pass and returns
logits for all k+1 positions (``engine.generation.acceptance`` decides what stays).
The rejected positions are rolled back by shortening the slot's ids; nothing is
copied. A draft model's own cache follows the accepted ids the same way.

A k-row pass rounds a little differently from k one-row passes on int8-activation
graphs (see engine/generation/perplexity.py), so on those greedy output can drift
from plain greedy decoding after a while; on float graphs it is the same token for
token. Sampling keeps the target's distribution exactly, by the speculative-sampling rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence as Ids

import numpy as np

from engine.core.events import GenerationEvent, SamplingParams
from engine.generation.acceptance import greedy_accept, sample_accept
from engine.generation.generate import ProgressCallback, stream_generate
from engine.generation.proposers import Draft, DraftModel, DraftPick, PromptLookup
from engine.generation.sequence import Sequence
from engine.runtime.model import LoadedModel

MAX_DRAFT = 16
PAUSE_ROUNDS = 16
Proposer = PromptLookup | DraftModel


class AdaptiveK:
    """How many tokens to draft: fewer when drafts fail, more when they pass, a pause after misses."""

    def __init__(self, k: int = 4) -> None:
        self.k, self.misses, self.paused = k, 0, 0

    def draft_size(self) -> int:
        if self.paused:
            self.paused -= 1
            return 0
        return self.k

    def record(self, drafted: int, accepted: int) -> None:
        rate = accepted / drafted
        if rate < 0.5:
            self.k = max(1, self.k // 2)
        elif rate >= 0.75:
            self.k = min(MAX_DRAFT, self.k * 2)
        self.misses = self.misses + 1 if accepted == 0 else 0
        if self.misses >= 3:  # three rounds in a row with nothing accepted: rest a while
            self.misses, self.paused = 0, PAUSE_ROUNDS


class SpeedupMeter:
    """The live speed-up: tokens a second while speculating, against one plain step's time.

    Plain steps happen anyway (the first decode step, and whenever there is nothing to
    draft), so the baseline costs nothing; the fastest one seen is the least noisy.
    """

    def __init__(self) -> None:
        self.plain_step: float | None = None
        self.tokens, self.seconds = 0, 0.0

    def plain(self, seconds: float) -> None:
        self.plain_step = seconds if self.plain_step is None else min(self.plain_step, seconds)

    def speculated(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds

    def speedup(self) -> float | None:
        if self.plain_step is None or not self.tokens or self.seconds <= 0:
            return None
        plain_seconds = self.tokens * self.plain_step
        # Plain rounds count on both sides, so pauses pull the figure towards 1.
        return plain_seconds / self.seconds


class Speculator:
    """One request's speculative rounds: draft, verify in one run, keep the accepted prefix."""

    def __init__(self, proposer: Proposer, params: SamplingParams) -> None:
        self.proposer = proposer
        self.adaptive = AdaptiveK()
        self.meter = SpeedupMeter()
        self.greedy = params.temperature == 0.0
        self.rng = np.random.default_rng(params.seed)

    def prepare(self, seq: Sequence) -> None:
        """Once the prompt is in the target's cache: a draft model reads it too (see ``DraftModel.follow``)."""
        if isinstance(self.proposer, DraftModel) and seq.prompt:
            self.proposer.follow(seq.prompt)

    def round(self, seq: Sequence) -> Iterator[GenerationEvent]:
        start = time.perf_counter()
        runner = seq.model.runner
        room = runner.context_length - len(runner.slot_ids[seq.slot]) - 2
        left = seq.params.max_new_tokens - seq.stats.generated
        # The first decode step is always plain: it times the baseline for the speed-up.
        k = min(self.adaptive.draft_size(), room, left - 1) if self.meter.plain_step else 0
        draft = self._propose(seq, k) if k > 0 else Draft([])
        if not draft.tokens:
            logits = runner.forward(seq.tokens[-1:], seq.slot)
            self.meter.plain(time.perf_counter() - start)
            self._timed(seq, 1, start)
            yield from seq.step(logits, runner.last_argmax)
            return
        yield from self._verify(seq, draft, start)

    def _propose(self, seq: Sequence, k: int) -> Draft:
        pick: DraftPick | None = None
        if not self.greedy and isinstance(self.proposer, DraftModel):

            def pick(logits: np.ndarray, history: list[int]) -> tuple[int, np.ndarray]:
                q = seq.distribution(logits, history)
                return int(self.rng.choice(q.size, p=q)), q

        return self.proposer.propose([*seq.prompt, *seq.tokens], k, pick)

    def _verify(self, seq: Sequence, draft: Draft, start: float) -> Iterator[GenerationEvent]:
        runner = seq.model.runner
        base = len(runner.slot_ids[seq.slot])
        rows = runner.forward_positions([seq.tokens[-1], *draft.tokens], len(draft.tokens) + 1, seq.slot)
        held = runner.slot_ids[seq.slot]  # the history row i was computed after: held[: base + 1 + i]
        if self.greedy:
            accepted, token = greedy_accept(draft.tokens, lambda i: seq.choose(rows[i], held[: base + 1 + i]))
        else:
            accepted, token = sample_accept(draft.tokens, draft.probs,
                                            lambda i: seq.distribution(rows[i], held[: base + 1 + i]), self.rng)
        runner.trim(base + 1 + accepted, seq.slot)  # the rejected drafts leave the cache
        seq.drafted += len(draft.tokens)
        seq.accepted += accepted
        self.adaptive.record(len(draft.tokens), accepted)
        self._timed(seq, accepted + 1, start)
        for row, chosen in enumerate([*draft.tokens[:accepted], token]):
            yield from seq.take(chosen, rows[row])
            if seq.done:
                return

    def _timed(self, seq: Sequence, tokens: int, start: float) -> None:
        self.meter.speculated(tokens, time.perf_counter() - start)
        seq.speedup = self.meter.speedup()  # the events of this round carry it


def speculative_generate(
    model: LoadedModel,
    prompt: Ids[int],
    params: SamplingParams | None = None,
    cancel: threading.Event | None = None,
    on_prefill: ProgressCallback | None = None,
    proposer: Proposer | None = None,
) -> Iterator[GenerationEvent]:
    """``stream_generate`` with speculative rounds; events count drafted and accepted tokens."""
    params = params or SamplingParams()
    speculator = Speculator(proposer or PromptLookup(), params)
    yield from stream_generate(model, prompt, params, cancel, on_prefill,
                               decode_round=speculator.round, on_prefilled=speculator.prepare)
