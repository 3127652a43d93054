"""Samplers over hand-made logits."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import InvalidSamplingError
from engine.core.events import SamplingParams
from engine.generation.sampling import (
    apply_repetition_penalty,
    make_sampler,
    min_p_mask,
    top_k_mask,
    top_p_mask,
)

LOGITS = np.array([1.0, 3.0, 2.0, -1.0, 0.5], dtype=np.float32)


def test_greedy_picks_the_largest():
    assert make_sampler(SamplingParams())(LOGITS, []) == 1


def test_top_k_keeps_k_largest():
    kept = np.isfinite(top_k_mask(LOGITS, 2))
    assert kept.tolist() == [False, True, True, False, False]


def test_top_p_keeps_the_token_that_crosses_p():
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum()  # ~[.08, .61, .22, .01, .05]
    kept = np.isfinite(top_p_mask(LOGITS, 0.7))
    assert probs[1] < 0.7 < probs[1] + probs[2]
    assert kept.tolist() == [False, True, True, False, False]


def test_min_p_drops_tokens_below_fraction_of_best():
    kept = np.isfinite(min_p_mask(LOGITS, 0.3))  # keeps p >= 0.3 * p_max
    assert kept.tolist() == [False, True, True, False, False]


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    out = apply_repetition_penalty(LOGITS, [1, 3, 1], penalty=2.0, window=64)
    assert out[1] == pytest.approx(1.5) and out[3] == pytest.approx(-2.0)
    assert out[0] == LOGITS[0]


def test_repetition_window_only_looks_back_that_far():
    out = apply_repetition_penalty(LOGITS, [1, 0, 0], penalty=2.0, window=2)
    assert out[1] == LOGITS[1] and out[0] == pytest.approx(0.5)


def test_penalty_can_change_the_greedy_choice():
    sampler = make_sampler(SamplingParams(repetition_penalty=2.0))
    assert sampler(LOGITS, [1]) == 2


def test_seeded_sampling_is_reproducible_and_follows_the_distribution():
    params = SamplingParams(temperature=1.0, seed=7)
    a = [make_sampler(params)(LOGITS, []) for _ in range(1)]
    first, second = make_sampler(params), make_sampler(params)
    draws_a = [first(LOGITS, []) for _ in range(2000)]
    draws_b = [second(LOGITS, []) for _ in range(2000)]
    assert draws_a == draws_b and a[0] == draws_a[0]
    freq = np.bincount(draws_a, minlength=5) / 2000
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum()
    assert np.abs(freq - probs).max() < 0.04


def test_top_k_one_is_greedy_even_when_sampling():
    sampler = make_sampler(SamplingParams(temperature=1.5, top_k=1, seed=1))
    assert {sampler(LOGITS, []) for _ in range(50)} == {1}


@pytest.mark.parametrize(
    "field,value",
    [
        ("temperature", -0.1),
        ("top_k", -1),
        ("top_p", 0.0),
        ("top_p", 1.5),
        ("min_p", 1.0),
        ("repetition_penalty", 0.0),
        ("max_new_tokens", 0),
        ("seed", -3),
    ],
)
def test_invalid_values_raise_an_error_naming_them(field, value):
    with pytest.raises(InvalidSamplingError, match=field):
        make_sampler(SamplingParams(**{field: value}))
