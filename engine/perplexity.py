"""Perplexity of a model over a text, fed token by token as the engine decodes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.model import LoadedModel


@dataclass(frozen=True)
class PerplexityResult:
    """Perplexity and the mean negative log-likelihood behind it."""

    perplexity: float
    tokens: int
    mean_nll: float


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max()
    return shifted - math.log(np.exp(shifted).sum())


def perplexity(
    model: LoadedModel,
    text: str,
    max_tokens: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> PerplexityResult:
    """Score ``text`` (no special tokens) one token at a time.

    Feeding one token per step is how decode runs; it also keeps activation
    quantization per step, which is what the user's answers see.
    """
    ids = model.codec.encode(text)[: min(max_tokens, model.runner.context_length)]
    if len(ids) < 2:
        raise ValueError("the text is too short to score")
    runner = model.runner
    runner.reset()
    nll = 0.0
    for i in range(len(ids) - 1):
        logits = runner.forward([ids[i]])
        nll -= _log_softmax(logits)[ids[i + 1]]
        if progress is not None and i % 64 == 0:
            progress(i + 1, len(ids) - 1)
    runner.reset()
    mean = nll / (len(ids) - 1)
    return PerplexityResult(perplexity=math.exp(mean), tokens=len(ids) - 1, mean_nll=mean)
