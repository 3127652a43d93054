"""Logits for several positions and log-probabilities, against transformers on the same weights.

The reference is the tiny random Llama's transformers checkpoint (``hf``), run in
torch on the whole sequence: an implementation that shares nothing with the engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.events import LoadOptions, SamplingParams
from engine.generation.generate import stream_generate
from engine.runtime.model import load_model

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def reference(tiny_models):
    from transformers import LlamaForCausalLM

    hf = LlamaForCausalLM.from_pretrained(tiny_models / "hf", dtype=torch.float32).eval()

    def logits(ids: list[int]) -> np.ndarray:
        with torch.no_grad():
            return hf(torch.tensor([ids])).logits[0].numpy()

    return logits


@pytest.fixture
def tiny(tiny_models):
    return load_model(tiny_models / "genai", LoadOptions(context_length=256, threads=1))


def _prompt(model) -> list[int]:
    return model.codec.encode_chat([{"role": "user", "content": "The hearth keeps the house warm."}])


def test_logits_for_the_last_k_positions_match_the_reference(tiny, reference):
    prompt = _prompt(tiny)
    k = 7
    logits = tiny.runner.forward_positions(prompt, k)
    assert logits.shape == (k, reference(prompt).shape[-1])
    np.testing.assert_allclose(logits, reference(prompt)[-k:], atol=2e-4, rtol=0)
    # The next one-position step is back on the fast path and still right.
    step = tiny.runner.forward([int(np.argmax(logits[-1]))])
    np.testing.assert_allclose(step, reference(prompt + [int(np.argmax(logits[-1]))])[-1], atol=2e-4, rtol=0)


def test_top5_logprobs_equal_log_softmax_of_the_full_logits(tiny, reference):
    prompt = _prompt(tiny)
    params = SamplingParams(max_new_tokens=6, ignore_eos=True, logprobs=True, top_logprobs=5)
    events = [e for e in stream_generate(tiny, prompt, params) if e.token_id is not None]
    assert len(events) == 6
    seen = list(prompt)
    for event in events:
        full = torch.log_softmax(torch.tensor(reference(seen)[-1], dtype=torch.float64), dim=-1).numpy()
        expected = np.argsort(-full, kind="stable")[:5]
        got = event.logprobs
        assert [t.token_id for t in got.top] == expected.tolist()
        np.testing.assert_allclose([t.logprob for t in got.top], full[expected], atol=1e-4)
        assert got.chosen.token_id == event.token_id
        assert got.chosen.logprob == pytest.approx(full[event.token_id], abs=1e-4)
        assert got.chosen.text == tiny.codec.decode([event.token_id], skip_special_tokens=False)
        seen.append(event.token_id)


def test_requests_that_do_not_ask_get_no_logprobs(tiny):
    events = list(stream_generate(tiny, _prompt(tiny), SamplingParams(max_new_tokens=3, ignore_eos=True)))
    assert all(e.logprobs is None for e in events)


def test_more_than_twenty_alternatives_are_refused(tiny):
    from engine.core.errors import InvalidSamplingError

    with pytest.raises(InvalidSamplingError, match="top_logprobs"):
        list(stream_generate(tiny, _prompt(tiny), SamplingParams(top_logprobs=21)))
