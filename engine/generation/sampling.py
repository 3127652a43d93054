"""Pure functions over numpy logits that choose the next token.

``make_sampler`` validates the settings once and returns one callable, so the
token loop does no checking of its own (as in mlx-lm's ``make_sampler``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.core.errors import InvalidSamplingError
from engine.core.events import SamplingParams
from engine.core.limits import SAMPLING_LIMITS

Sampler = Callable[[np.ndarray, Sequence[int]], int]


def validate(params: SamplingParams) -> None:
    """Raise ``InvalidSamplingError`` naming every setting outside ``SAMPLING_LIMITS``."""
    problems = []
    for name, limit in SAMPLING_LIMITS.items():
        value = getattr(params, name)
        if name == "seed" and value is None:  # None: a new seed each time
            continue
        problem = limit.problem(value)
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidSamplingError("Invalid sampling settings: " + "; ".join(problems) + ".")


def apply_repetition_penalty(logits: np.ndarray, history: Sequence[int], penalty: float, window: int) -> np.ndarray:
    """Make recently seen tokens less likely (CTRL-style: divide positives, multiply negatives)."""
    if penalty == 1.0 or not history or window == 0:
        return logits
    recent = np.unique(np.asarray(history[-window:], dtype=np.int64))
    out = logits.copy()
    picked = out[recent]
    out[recent] = np.where(picked > 0, picked / penalty, picked * penalty)
    return out


def top_k_mask(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` largest logits; the rest become -inf."""
    if k <= 0 or k >= logits.size:
        return logits
    threshold = np.partition(logits, -k)[-k]
    return np.where(logits >= threshold, logits, -np.inf)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - np.max(logits))
    return shifted / shifted.sum()


def top_p_mask(logits: np.ndarray, p: float) -> np.ndarray:
    """Keep the smallest set of tokens whose probability reaches ``p``."""
    if p >= 1.0:
        return logits
    probs = softmax(logits)
    # Sorting the whole vocabulary costs milliseconds per token; tokens this
    # unlikely can never be needed to reach p, so only the rest are sorted.
    candidates = np.flatnonzero(probs > 1e-9)
    order = candidates[np.argsort(-logits[candidates])]
    cumulative = np.cumsum(probs[order])
    keep = int(np.searchsorted(cumulative, p)) + 1  # the token that crosses p stays
    out = np.full_like(logits, -np.inf)
    out[order[:keep]] = logits[order[:keep]]
    return out


def min_p_mask(logits: np.ndarray, min_p: float) -> np.ndarray:
    """Drop tokens less likely than ``min_p`` times the most likely one."""
    if min_p <= 0.0:
        return logits
    probs = softmax(logits)
    return np.where(probs >= min_p * probs.max(), logits, -np.inf)


Distribution = Callable[[np.ndarray, Sequence[int]], np.ndarray]


def make_distribution(params: SamplingParams) -> Distribution:
    """The probabilities ``params`` sample from, given logits and the ids so far (validated here, once).

    Speculative sampling needs the distribution itself, not just a draw from it, so the
    sampler below and the speculative acceptance rule share this one function.
    """
    validate(params)
    if params.temperature == 0.0:
        raise ValueError("greedy decoding has no distribution to sample from")

    def distribution(logits: np.ndarray, history: Sequence[int]) -> np.ndarray:
        logits = apply_repetition_penalty(logits, history, params.repetition_penalty, params.repetition_window)
        logits = logits.astype(np.float64) / params.temperature
        logits = top_k_mask(logits, params.top_k)
        logits = top_p_mask(logits, params.top_p)
        logits = min_p_mask(logits, params.min_p)
        return softmax(logits)

    return distribution


def make_sampler(params: SamplingParams) -> Sampler:
    """Build the sampler for ``params`` (validated here, once)."""
    validate(params)
    rng = np.random.default_rng(params.seed)
    if params.temperature == 0.0:

        def greedy(logits: np.ndarray, history: Sequence[int]) -> int:
            logits = apply_repetition_penalty(logits, history, params.repetition_penalty, params.repetition_window)
            return int(np.argmax(logits))

        return greedy
    distribution = make_distribution(params)

    def sample(logits: np.ndarray, history: Sequence[int]) -> int:
        probs = distribution(logits, history)
        return int(rng.choice(probs.size, p=probs))

    return sample
