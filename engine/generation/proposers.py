"""Who drafts the tokens speculative decoding checks: the text so far, or a smaller model.

A proposer returns a ``Draft``: up to k token ids, and for a sampling draft model the
distribution each was drawn from (speculative sampling needs it). Prompt lookup and
greedy drafts are certain, so they carry no distributions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence as Ids
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.events import LoadOptions
from engine.runtime.model import LoadedModel, load_model

MAX_NGRAM = 4
DRAFT_PREFILL_CHUNK = 256  # as the target's prefill: bounds the draft's activation memory
MIN_CONFIDENCE = 0.5

# Chooses a draft token from the draft model's logits and the ids before it:
# (token, the distribution it was drawn from, or None when the choice was certain).
DraftPick = Callable[[np.ndarray, list[int]], tuple[int, np.ndarray | None]]


@dataclass(frozen=True)
class Draft:
    tokens: list[int]
    probs: list[np.ndarray] | None = None  # one distribution per token; None: each token was certain


class PromptLookup:
    """Drafts the tokens that followed the latest earlier occurrence of the last n tokens."""

    def __init__(self, max_ngram: int = MAX_NGRAM) -> None:
        self.max_ngram = max_ngram

    def propose(self, ids: Ids[int], k: int, pick: DraftPick | None = None) -> Draft:
        ids = list(ids)
        for n in range(min(self.max_ngram, len(ids) - 1), 0, -1):
            tail = ids[-n:]
            # The latest match first: a reply that repeats itself repeats its recent past.
            # Comparing the first token before slicing keeps a long prompt's scan cheap.
            for start in range(len(ids) - n - 1, -1, -1):
                if ids[start] == tail[0] and ids[start : start + n] == tail:
                    follow = ids[start + n : start + n + k]
                    if follow:
                        return Draft(follow)
        return Draft([])


class DraftModel:
    """A second, cheaper model with the same tokenizer that drafts k tokens one at a time.

    Its own KV cache follows the target's accepted ids: each round it keeps the prefix
    it shares with them (the rejected drafts drop out) and feeds only what is new.
    It stops early when it is unsure of a token (probability under ``min_confidence``):
    the target would likely reject it and everything drafted after it.
    """

    def __init__(self, model: LoadedModel, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.model = model
        self.min_confidence = min_confidence

    def propose(self, ids: Ids[int], k: int, pick: DraftPick | None = None) -> Draft:
        runner = self.model.runner
        ids = list(ids)
        k = min(k, runner.context_length - len(ids) - 1)
        if k <= 0:
            return Draft([])
        logits = self.follow(ids)
        tokens: list[int] = []
        probs: list[np.ndarray] = []
        while True:
            if pick is None:
                token = runner.last_argmax if runner.last_argmax is not None else int(np.argmax(logits))
                confidence = _probability(logits, token)
            else:
                token, q = pick(logits, runner.ids)
                confidence = 1.0 if q is None else float(q[token])
                if q is not None:
                    probs.append(q)
            tokens.append(token)
            if len(tokens) == k or confidence < self.min_confidence:
                return Draft(tokens, probs or None)
            logits = runner.forward([token])

    def follow(self, ids: Ids[int]) -> np.ndarray:
        """Bring the draft's cache to ``ids``, feeding only what it lacks; the logits after the last id.

        Before the first token this is the draft's prefill of the prompt, so that cost lands in
        the time to first token, as the target's own prefill does, not in the decode rate.
        """
        runner = self.model.runner
        ids = list(ids)
        cached = min(runner.common_prefix(ids), len(ids) - 1)  # the last id is fed again for its logits
        runner.trim(cached)
        for start in range(cached, len(ids), DRAFT_PREFILL_CHUNK):
            logits = runner.forward(ids[start : start + DRAFT_PREFILL_CHUNK])
        return logits


def load_draft(folder: str | Path, target: LoadedModel, options: LoadOptions) -> DraftModel:
    """Load ``folder`` to draft for ``target``: its context, one slot, and threads that do not spin.

    The two sessions take turns on the same cores; a session whose threads spin after
    its run holds them while the other works (on two cores, alternating spinning
    sessions ran at less than half the speed of non-spinning ones).
    """
    draft_options = dataclasses.replace(options, context_length=target.runner.context_length, slots=1, spin=False)
    return DraftModel(load_model(folder, draft_options))


def _probability(logits: np.ndarray, token: int) -> float:
    """Softmax probability of one token (``logits`` may be the runner's view: it is not written)."""
    top = float(logits.max())
    return float(np.exp(logits[token] - top) / np.exp(logits - top).sum())
