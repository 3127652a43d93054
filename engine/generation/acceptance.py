"""Which drafted tokens the target model keeps, and the token it adds after them.

Greedy: the longest prefix of drafts equal to the target's own choices, then the
target's choice at the first mismatch (or after the last draft).

Sampling: the speculative-sampling rule of Leviathan et al. (2023) and Chen et al.
(2023). Draft x, drawn from q, is kept with probability min(1, p(x) / q(x)); at the
first rejection the replacement is drawn from max(0, p - q), renormalized. The
tokens that come out are distributed exactly as sampling from p alone. A certain
draft (prompt lookup, a greedy draft model) is the case q = one-hot(x).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence as Ids

import numpy as np


def greedy_accept(drafts: Ids[int], choice: Callable[[int], int]) -> tuple[int, int]:
    """(how many drafts are kept, the target's next token); ``choice(i)`` is its pick at row i."""
    for i, draft in enumerate(drafts):
        token = choice(i)
        if token != draft:
            return i, token
    return len(drafts), choice(len(drafts))


def sample_accept(
    drafts: Ids[int],
    draft_probs: list[np.ndarray] | None,
    target_probs: Callable[[int], np.ndarray],
    rng: np.random.Generator,
) -> tuple[int, int]:
    """(how many drafts are kept, the token drawn after them), by the speculative-sampling rule.

    ``target_probs(i)`` is the target's distribution at row i; ``draft_probs`` the
    distributions the drafts were drawn from, or None when each draft was certain.
    """
    for i, draft in enumerate(drafts):
        p = target_probs(i)
        q = _one_hot(draft, p.size) if draft_probs is None else _fit(draft_probs[i], p.size)
        if rng.random() < min(1.0, p[draft] / q[draft]):
            continue
        residual = np.maximum(p - q, 0.0)
        total = residual.sum()
        if total <= 0.0:  # p <= q everywhere only if p == q, and then x is never rejected; rounding aside
            residual, total = p, p.sum()
        return i, int(rng.choice(p.size, p=residual / total))
    p = target_probs(len(drafts))
    return len(drafts), int(rng.choice(p.size, p=p))


def _one_hot(token: int, size: int) -> np.ndarray:
    q = np.zeros(size)
    q[token] = 1.0
    return q


def _fit(q: np.ndarray, size: int) -> np.ndarray:
    """The draft's distribution over the target's ids (their logits may be padded differently)."""
    if q.size == size:
        return q
    out = np.zeros(size)
    n = min(size, q.size)
    out[:n] = q[:n]
    return out
