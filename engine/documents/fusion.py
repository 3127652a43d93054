"""Combining rankings: reciprocal-rank fusion of keyword (BM25) and dense (embedding) scores.

RRF (Cormack, Clarke and Büttcher, 2009) adds ``1 / (k + rank)`` over the rankings a
chunk appears in. It uses ranks only, so BM25 scores (unbounded) and cosines (-1..1)
need no common scale.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60
# Chunks that share no word with the question still count when the embedder ranks them this high.
DENSE_TOP = 5


def ranking(scores: Sequence[float]) -> list[int]:
    """Indices of ``scores`` best first; ties go to the earlier index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[float]:
    """The fused score of each item, for rankings that each list every item once, best first.

    Args:
        rankings: Item indices, best first, one list per retriever (all the same length).
        k: Damps the head of each ranking; 60 is the value of the original paper.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    size = len(rankings[0]) if rankings else 0
    if any(len(order) != size for order in rankings):
        raise ValueError("every ranking must list the same items")
    fused = [0.0] * size
    for order in rankings:
        for rank, item in enumerate(order, start=1):
            fused[item] += 1.0 / (k + rank)
    return fused


def hybrid_scores(keyword: Sequence[float], dense: Sequence[float], k: int = RRF_K,
                  dense_top: int = DENSE_TOP) -> list[float]:
    """RRF of the BM25 and the dense ranking, for ``retrieval.build_context``.

    When any chunk matches a question word, a chunk that matches none scores 0 (left out)
    unless it is among the ``dense_top`` best by the embedder: the paraphrases BM25
    cannot see are what the embedder adds, while the rest would only lengthen prefill.
    """
    if len(keyword) != len(dense):
        raise ValueError("keyword and dense scores must cover the same chunks")
    by_dense = ranking(dense)
    fused = reciprocal_rank_fusion([ranking(keyword), by_dense], k)
    if not any(score > 0 for score in keyword):
        return fused
    top = set(by_dense[:dense_top])
    return [score if keyword[i] > 0 or i in top else 0.0 for i, score in enumerate(fused)]
