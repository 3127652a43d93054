"""Speculative decoding with prompt lookup: draft from the text so far, verify k tokens in one run.

The proposer matches the last n tokens (longest n first) against everything before
them, the prompt and the reply so far, and proposes what followed the match. The
model then runs the last accepted token plus the k drafts in one pass and returns
logits for all k+1 positions. Greedy decoding accepts the longest prefix of drafts
equal to the model's own argmax, then adds the model's next token; the rejected
positions are rolled back by shortening the slot's ids (nothing is copied).

A k-row pass rounds a little differently from k one-row passes on int8-activation
graphs (see engine/generation/perplexity.py), so on those the output can drift from
plain greedy decoding after a while; on float graphs it is the same token for token.
Only greedy decoding speculates; sampling decodes plainly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence as Ids

import numpy as np

from engine.core.events import GenerationEvent, SamplingParams
from engine.generation.generate import ProgressCallback, stream_generate
from engine.generation.sequence import Sequence
from engine.runtime.model import LoadedModel

MAX_NGRAM = 4
MAX_DRAFT = 16


class PromptLookup:
    """Drafts the tokens that followed the latest earlier occurrence of the last n tokens."""

    def __init__(self, max_ngram: int = MAX_NGRAM) -> None:
        self.max_ngram = max_ngram

    def propose(self, ids: Ids[int], k: int) -> list[int]:
        ids = list(ids)
        for n in range(min(self.max_ngram, len(ids) - 1), 0, -1):
            tail = ids[-n:]
            # The latest match first: a reply that repeats itself repeats its recent past.
            # Comparing the first token before slicing keeps a long prompt's scan cheap.
            for start in range(len(ids) - n - 1, -1, -1):
                if ids[start] == tail[0] and ids[start : start + n] == tail:
                    follow = ids[start + n : start + n + k]
                    if follow:
                        return follow
        return []


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
            self.misses, self.paused = 0, 16


def speculative_generate(
    model: LoadedModel,
    prompt: Ids[int],
    params: SamplingParams | None = None,
    cancel: threading.Event | None = None,
    on_prefill: ProgressCallback | None = None,
    proposer: PromptLookup | None = None,
) -> Iterator[GenerationEvent]:
    """``stream_generate`` with prompt-lookup drafts, for greedy decoding; events count drafted and accepted."""
    params = params or SamplingParams()
    greedy = params.temperature == 0.0 and params.repetition_penalty == 1.0
    proposer, adaptive = proposer or PromptLookup(), AdaptiveK()
    speculate = (lambda seq: _one_round(seq, proposer, adaptive)) if greedy else None  # sampling decodes plainly
    yield from stream_generate(model, prompt, params, cancel, on_prefill, decode_round=speculate)


def _one_round(seq: Sequence, proposer: PromptLookup, adaptive: AdaptiveK) -> Iterator[GenerationEvent]:
    """Feed the last token (and any drafts) in one run; emit what the model confirms."""
    runner = seq.model.runner
    held = runner.slot_ids[seq.slot]
    room = runner.context_length - len(held) - 2
    left = seq.params.max_new_tokens - seq.stats.generated
    k = min(adaptive.draft_size(), room, left - 1)
    drafts = proposer.propose([*seq.prompt, *seq.tokens], k) if k > 0 else []
    if not drafts:
        yield from seq.step(runner.forward(seq.tokens[-1:]), runner.last_argmax)
        return
    base = len(held)
    rows = runner.forward_positions([seq.tokens[-1], *drafts], len(drafts) + 1)
    choices = np.argmax(rows, axis=-1)
    accepted = 0
    while accepted < len(drafts) and choices[accepted] == drafts[accepted]:
        accepted += 1
    runner.trim(base + 1 + accepted)  # the rejected drafts leave the cache
    seq.drafted += len(drafts)
    seq.accepted += accepted
    adaptive.record(len(drafts), accepted)
    for row in range(accepted + 1):  # the accepted drafts, then the model's own next token
        yield from seq.step(rows[row], int(choices[row]))
        if seq.done:
            return
