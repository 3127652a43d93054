"""Speculative decoding with prompt lookup: same greedy tokens on a float graph, exact rollback."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.events import LoadOptions, SamplingParams
from engine.generation.generate import stream_generate
from engine.generation.proposers import PromptLookup
from engine.generation.speculative import speculative_generate
from engine.runtime.model import load_model

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture


def test_prompt_lookup_proposes_what_followed_the_latest_longest_match():
    lookup = PromptLookup()
    assert lookup.propose([1, 2, 3, 9, 9, 1, 2, 3, 7, 8, 1, 2, 3], 2).tokens == [7, 8]  # the latest match of 1 2 3
    assert lookup.propose([5, 6, 1, 2, 4, 2], 3).tokens == [4, 2]  # only "2" matches earlier
    assert lookup.propose([1, 2, 3], 4).tokens == []


@pytest.fixture
def tiny(tiny_models):
    return load_model(tiny_models / "genai", LoadOptions(context_length=512, threads=1))


def _repetitive_prompt(model) -> list[int]:
    text = "The hearth keeps the house warm. The hearth keeps the house warm. The hearth keeps"
    return model.codec.encode_chat([{"role": "user", "content": text}])


def test_speculative_greedy_equals_plain_greedy_on_a_float_graph(tiny):
    prompt = _repetitive_prompt(tiny)
    params = SamplingParams(max_new_tokens=64, ignore_eos=True)
    plain = [e.token_id for e in stream_generate(tiny, prompt, params) if e.token_id is not None]
    tiny.runner.reset()
    events = list(speculative_generate(tiny, prompt, params))
    assert [e.token_id for e in events if e.token_id is not None] == plain
    assert events[-1].drafted_tokens > 0 and events[-1].accepted_tokens > 0


def test_a_rejected_draft_is_rolled_back_and_the_next_step_matches_a_cold_run(tiny):
    runner = tiny.runner
    prompt = _repetitive_prompt(tiny)
    runner.forward(prompt[:-1])
    last = prompt[-1]
    logits = runner.forward_positions([last, 11, 12, 13], 4)
    good = int(np.argmax(logits[0]))
    runner.trim(len(prompt))  # nothing accepted: only the last token stays
    assert runner.ids == prompt
    after = runner.forward([good]).copy()
    runner.reset()
    for token in prompt:  # the same ids, cold and one at a time
        runner.forward([token])
    cold = runner.forward([good])
    np.testing.assert_allclose(after, cold, atol=1e-4, rtol=0)


def test_the_cli_stats_line_appends_drafted_and_accepted(default_model_dir):
    import re
    import subprocess
    import sys

    text = "Repeat exactly: red green blue red green blue red green blue"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "generate", text, "--model", str(default_model_dir),
                           "--speculate", "lookup", "--temperature", "0", "--max-new-tokens", "32"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stats = done.stderr.strip().splitlines()[-1]
    assert re.match(r"^\[finish=\w+, ttft=\d+ ms, prefill=\d+ tok/s, (decode=\d+\.\d tok/s, )?tokens=\d+, "
                    r"prompt=\d+ \(cached \d+\), context=\d+/\d+, drafted=\d+, accepted=\d+\]$", stats), stats
