"""Log-probabilities of the chosen token and its most likely alternatives, when asked.

Computed from the raw logits (the model's own distribution, before temperature,
penalties and filters), in float64 so that tiny probabilities keep their digits.
Requests that don't ask never reach this module.
"""

from __future__ import annotations

import numpy as np

from engine.core.events import StepLogprobs, TokenLogprob
from engine.core.limits import SAMPLING_LIMITS

MAX_TOP_LOGPROBS = int(SAMPLING_LIMITS["top_logprobs"].high)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log(softmax(logits)) along the last axis, stable for large logits."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def step_logprobs(logits: np.ndarray, chosen: int, top: int) -> StepLogprobs:
    """The chosen token's log-probability and the ``top`` most likely tokens, best first."""
    logp = log_softmax(logits)
    alternatives: tuple[TokenLogprob, ...] = ()
    if top > 0:
        best = np.argpartition(-logp, top - 1)[:top]
        best = best[np.argsort(-logp[best], kind="stable")]
        alternatives = tuple(TokenLogprob(int(i), float(logp[i])) for i in best)
    return StepLogprobs(TokenLogprob(int(chosen), float(logp[chosen])), alternatives)
