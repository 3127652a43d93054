"""Reciprocal-rank fusion on hand-made rankings."""

from __future__ import annotations

import pytest

from engine.documents.fusion import ranking, reciprocal_rank_fusion


def test_ranking_is_best_first_with_ties_to_the_earlier_item():
    assert ranking([0.1, 0.5, 0.5, -1.0]) == [1, 2, 0, 3]


def test_second_in_both_rankings_beats_first_in_one_and_last_in_the_other():
    fused = reciprocal_rank_fusion([[0, 1, 2, 3], [3, 1, 2, 0]])
    assert fused[1] > fused[0] == fused[3]  # 2/62 against 1/61 + 1/64
    assert fused == pytest.approx([1 / 61 + 1 / 64, 2 / 62, 2 / 63, 1 / 61 + 1 / 64])


def test_rankings_of_different_items_are_refused():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[0, 1], [0]])


def test_a_weight_scales_one_rankings_terms():
    fused = reciprocal_rank_fusion([[0, 1], [1, 0]], k=0, weights=[1.0, 3.0])
    assert fused == pytest.approx([1 / 1 + 3 / 2, 1 / 2 + 3 / 1])
    assert fused[1] > fused[0]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[0, 1], [1, 0]], weights=[1.0])
