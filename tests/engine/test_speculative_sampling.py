"""Speculative sampling keeps the target's distribution: chi-square over many seeded draws."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from engine.core.events import LoadOptions, SamplingParams
from engine.generation.acceptance import sample_accept
from engine.generation.generate import stream_generate
from engine.generation.proposers import DraftModel, PromptLookup
from engine.generation.speculative import speculative_generate
from engine.runtime.model import load_model

from tests.engine.chi_square import critical_value, goodness_of_fit, two_sample
from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture

P = np.array([0.05, 0.30, 0.10, 0.25, 0.20, 0.10])
Q = np.array([0.40, 0.05, 0.20, 0.05, 0.10, 0.20])  # a poor draft: it favours what the target does not


@pytest.mark.parametrize("draft", ["sampled", "certain"])
def test_the_acceptance_rule_gives_the_target_distribution(draft):
    rng = np.random.default_rng(7)
    draws = 20_000
    first = Counter()
    for _ in range(draws):
        if draft == "sampled":
            token = int(rng.choice(Q.size, p=Q))
            accepted, after = sample_accept([token], [Q], lambda i: P, rng)
        else:  # prompt lookup always drafts the same token
            token = 0
            accepted, after = sample_accept([token], None, lambda i: P, rng)
        first[token if accepted else after] += 1
    stat, df = goodness_of_fit(first, dict(enumerate(P)), draws)
    assert stat < critical_value(df), (stat, df, first)


def test_the_chi_square_check_notices_a_wrong_distribution():
    """The check above can fail: always keeping the draft gives Q, not P."""
    rng = np.random.default_rng(7)
    draws = 20_000
    kept = Counter(int(rng.choice(Q.size, p=Q)) for _ in range(draws))
    stat, df = goodness_of_fit(kept, dict(enumerate(P)), draws)
    assert stat > critical_value(df)


class FlattenedDraft(DraftModel):
    """The same weights as the target, drafting from flattened logits: a draft that often disagrees."""

    def propose(self, ids, k, pick=None):
        flattened = None if pick is None else (lambda logits, history: pick(logits * 0.3, history))
        return super().propose(ids, k, flattened)


@pytest.fixture(scope="module")
def tiny_pair(tiny_models):
    options = LoadOptions(context_length=256, threads=1)
    return load_model(tiny_models / "genai", options), load_model(tiny_models / "optimum", options)


def _prompt(model) -> list[int]:
    """Text, the model's own greedy continuation of it, then the text again: lookup drafts that continuation."""
    ids = model.codec.encode("the cat sat on the mat and the dog sat on the log")
    greedy = [e.token_id for e in stream_generate(model, ids, SamplingParams(max_new_tokens=12, ignore_eos=True))]
    return ids + [t for t in greedy if t is not None] + ids


@pytest.mark.parametrize("proposer_kind", ["lookup", "draft"])
def test_speculative_sampling_on_a_model_matches_plain_sampling(tiny_pair, proposer_kind):
    target, draft_model = tiny_pair
    prompt = _prompt(target)
    runs, position = 500, 6  # the first two tokens are plain in both; the last two are compared
    plain, speculative, drafted, accepted = Counter(), Counter(), 0, 0
    for seed in range(runs):
        params = SamplingParams(temperature=0.8, top_k=4, max_new_tokens=position + 1, ignore_eos=True, seed=seed)
        ids = [e.token_id for e in stream_generate(target, prompt, params) if e.token_id is not None]
        plain[tuple(ids[position - 1 : position + 1])] += 1
        proposer = PromptLookup() if proposer_kind == "lookup" else FlattenedDraft(draft_model)
        params = SamplingParams(temperature=0.8, top_k=4, max_new_tokens=position + 1, ignore_eos=True,
                                seed=runs + seed)
        events = list(speculative_generate(target, prompt, params, proposer=proposer))
        ids = [e.token_id for e in events if e.token_id is not None]
        speculative[tuple(ids[position - 1 : position + 1])] += 1
        drafted += events[-1].drafted_tokens
        accepted += events[-1].accepted_tokens
    assert runs < drafted and 0 < accepted < drafted, (drafted, accepted)  # drafts were kept and rejected
    stat, df = two_sample(plain, speculative)
    assert stat < critical_value(df), (stat, df, plain, speculative)
