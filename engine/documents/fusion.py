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
# Of the dense ranking's RRF terms (BM25's weigh 1). 3 won the dev grid but lost on the test set
# (docs/embeddings.md, "Retrieval quality"), so 1 stays.
DENSE_WEIGHT = 1.0


def ranking(scores: Sequence[float]) -> list[int]:
    """Indices of ``scores`` best first; ties go to the earlier index."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: float = RRF_K,
                           weights: Sequence[float] | None = None) -> list[float]:
    """The fused score of each item, for rankings that each list every item once, best first.

    Args:
        rankings: Item indices, best first, one list per retriever (all the same length).
        k: Damps the head of each ranking; 60 is the value of the original paper.
        weights: One factor per ranking on its ``1 / (k + rank)`` terms; None weighs all alike.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    size = len(rankings[0]) if rankings else 0
    if any(len(order) != size for order in rankings):
        raise ValueError("every ranking must list the same items")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings) or any(w < 0 for w in weights):
        raise ValueError("weights must be one non-negative number per ranking")
    fused = [0.0] * size
    for order, weight in zip(rankings, weights):
        for rank, item in enumerate(order, start=1):
            fused[item] += weight / (k + rank)
    return fused


def hybrid_scores(keyword: Sequence[float], dense: Sequence[float], k: float = RRF_K,
                  dense_top: int = DENSE_TOP, dense_weight: float = DENSE_WEIGHT) -> list[float]:
    """RRF of the BM25 and the dense ranking, for ``retrieval.build_context``.

    When any chunk matches a question word, a chunk that matches none scores 0 (left out)
    unless it is among the ``dense_top`` best by the embedder: the paraphrases BM25
    cannot see are what the embedder adds, while the rest would only lengthen prefill.
    ``dense_weight`` multiplies the dense ranking's terms (BM25's weigh 1).
    """
    if len(keyword) != len(dense):
        raise ValueError("keyword and dense scores must cover the same chunks")
    by_dense = ranking(dense)
    fused = reciprocal_rank_fusion([ranking(keyword), by_dense], k, [1.0, dense_weight])
    if not any(score > 0 for score in keyword):
        return fused
    top = set(by_dense[:dense_top])
    return [score if keyword[i] > 0 or i in top else 0.0 for i, score in enumerate(fused)]
