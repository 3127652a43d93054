"""Perplexity of a model over a text: fast in chunks, or token by token as decode runs.

The chunked way feeds ``CHUNK`` tokens per run and asks the graph for the logits
of every position in the chunk, so 1,024 tokens take four runs instead of 1,023.
On float graphs it gives the token-by-token figure to four decimals.

On graphs with int8-activation MatMulNBits (accuracy level 4, the default model's)
the two differ by about 0.6 %: GroupQueryAttention's several-token kernel rounds
the last bits differently from its one-token kernel (layer 0's keys are identical,
layer 1's differ from position 1 on), and each MatMulNBits re-quantizes its input
to int8, which turns last-bit changes into whole steps. Neither figure is the
"true" one (on SmolLM2-135M the chunked figure is the closer to fp32); the
token-by-token one is what decoding sees, and ``token_by_token=True`` gives it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.generation.logprobs import log_softmax
from engine.runtime.model import LoadedModel

CHUNK = 256


@dataclass(frozen=True)
class PerplexityResult:
    """Perplexity and the mean negative log-likelihood behind it."""

    perplexity: float
    tokens: int
    mean_nll: float


def perplexity(
    model: LoadedModel,
    text: str,
    max_tokens: int = 1024,
    progress: Callable[[int, int], None] | None = None,
    token_by_token: bool = False,
) -> PerplexityResult:
    """Score ``text`` (no special tokens): the mean surprise of each token given those before it."""
    ids = model.codec.encode(text)[: min(max_tokens, model.runner.context_length)]
    if len(ids) < 2:
        raise ValueError("the text is too short to score")
    runner = model.runner
    runner.reset()
    try:
        nll = _token_by_token(runner, ids, progress) if token_by_token else _chunked(runner, ids, progress)
    finally:
        runner.reset()
    mean = nll / (len(ids) - 1)
    return PerplexityResult(perplexity=math.exp(mean), tokens=len(ids) - 1, mean_nll=mean)


def _chunked(runner, ids: list[int], progress: Callable[[int, int], None] | None) -> float:
    # Position i's logits score token i+1; the last token is fed only as a target.
    fed = ids[:-1]
    nll = 0.0
    for start in range(0, len(fed), CHUNK):
        chunk = fed[start : start + CHUNK]
        logp = log_softmax(runner.forward_positions(chunk, len(chunk)))
        targets = np.asarray(ids[start + 1 : start + 1 + len(chunk)])
        nll -= float(logp[np.arange(len(chunk)), targets].sum())
        if progress is not None:
            progress(start + len(chunk), len(fed))
    return nll


def _token_by_token(runner, ids: list[int], progress: Callable[[int, int], None] | None) -> float:
    nll = 0.0
    for i in range(len(ids) - 1):
        logits = runner.forward([ids[i]])
        nll -= float(log_softmax(logits)[ids[i + 1]])
        if progress is not None and i % 64 == 0:
            progress(i + 1, len(ids) - 1)
    return nll

