"""Pure functions over numpy logits that choose the next token.

``make_sampler`` validates the settings once and returns one callable, so the
token loop does no checking of its own (as in mlx-lm's ``make_sampler``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.core.errors import InvalidSamplingError
from engine.core.events import SamplingParams

Sampler = Callable[[np.ndarray, Sequence[int]], int]


def validate(params: SamplingParams) -> None:
    """Raise ``InvalidSamplingError`` naming every out-of-range setting."""
    problems = []
    if not 0.0 <= params.temperature <= 5.0:
        problems.append(f"temperature must be between 0 and 5 (got {params.temperature})")
    if params.top_k < 0:
        problems.append(f"top_k must be 0 (off) or positive (got {params.top_k})")
    if not 0.0 < params.top_p <= 1.0:
        problems.append(f"top_p must be above 0 and at most 1 (got {params.top_p})")
    if not 0.0 <= params.min_p < 1.0:
        problems.append(f"min_p must be at least 0 and below 1 (got {params.min_p})")
    if not 0.0 < params.repetition_penalty <= 10.0:
        problems.append(f"repetition_penalty must be above 0 and at most 10 (got {params.repetition_penalty})")
    if params.repetition_window < 0:
        problems.append(f"repetition_window must be 0 or positive (got {params.repetition_window})")
    if params.max_new_tokens < 1:
        problems.append(f"max_new_tokens must be at least 1 (got {params.max_new_tokens})")
    if not 0 <= params.top_logprobs <= 20:
        problems.append(f"top_logprobs must be between 0 and 20 (got {params.top_logprobs})")
    if params.seed is not None and params.seed < 0:
        problems.append(f"seed must be 0 or positive (got {params.seed})")
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


def make_sampler(params: SamplingParams) -> Sampler:
    """Build the sampler for ``params`` (validated here, once)."""
    validate(params)
    rng = np.random.default_rng(params.seed)

    def sample(logits: np.ndarray, history: Sequence[int]) -> int:
        logits = apply_repetition_penalty(logits, history, params.repetition_penalty, params.repetition_window)
        if params.temperature == 0.0:
            return int(np.argmax(logits))
        logits = logits.astype(np.float64) / params.temperature
        logits = top_k_mask(logits, params.top_k)
        logits = top_p_mask(logits, params.top_p)
        logits = min_p_mask(logits, params.min_p)
        return int(rng.choice(logits.size, p=softmax(logits)))

    return sample
