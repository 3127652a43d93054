"""A draft model: exact greedy output on a float target, a cache that follows the accepted ids, a checked tokenizer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.core.errors import ModelLoadError
from engine.core.events import LoadOptions, SamplingParams
from engine.generation.generate import stream_generate
from engine.generation.proposers import DraftModel
from engine.generation.speculative import speculative_generate
from engine.runtime.model import load_model
from engine.runtime.vocabulary import check_draft, compatible_drafts

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture

QUESTIONS = [
    "Write a short story about a fox who learns to cook.",
    "Explain in a few sentences why the sky is blue.",
]


@pytest.fixture(scope="module")
def fp32_and_draft(fp32_model_dir, default_model_dir):
    options = LoadOptions(threads=2, context_length=1024)
    return load_model(fp32_model_dir, options), load_model(default_model_dir, options)


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_default_build_drafting_for_fp32_gives_fp32_greedy_output_exactly(fp32_and_draft, question):
    target, draft = fp32_and_draft
    prompt = target.codec.encode_chat([{"role": "user", "content": question}])
    params = SamplingParams(max_new_tokens=96, ignore_eos=True)
    target.runner.reset()
    plain = [e.token_id for e in stream_generate(target, prompt, params) if e.token_id is not None]
    target.runner.reset()
    events = list(speculative_generate(target, prompt, params, proposer=DraftModel(draft, min_confidence=0.0)))  # drafts it is unsure of too: some are rejected
    assert [e.token_id for e in events if e.token_id is not None] == plain
    last = events[-1]
    assert 0 < last.accepted_tokens < last.drafted_tokens  # drafts were kept and some were rejected
    assert last.speedup is not None


def test_after_a_rejected_draft_the_draft_cache_holds_only_the_accepted_ids(fp32_and_draft):
    _, draft_model = fp32_and_draft
    proposer = DraftModel(draft_model, min_confidence=0.0)
    ids = draft_model.codec.encode_chat([{"role": "user", "content": QUESTIONS[1]}])
    first = proposer.propose(ids, 4).tokens
    assert len(first) == 4
    assert draft_model.runner.ids == ids + first[:3]  # the last draft was never fed
    accepted = ids + first[:1] + [first[1] + 1]  # the target kept one draft, then chose otherwise
    second = proposer.propose(accepted, 3).tokens
    assert draft_model.runner.ids == accepted + second[:2]
    cold = load_model(draft_model.files.folder, LoadOptions(threads=2, context_length=1024))
    assert second == DraftModel(cold, min_confidence=0.0).propose(accepted, 3).tokens  # the same drafts as a cold cache gives


def test_the_draft_reads_the_prompt_before_the_first_token(fp32_and_draft):
    # Its prefill belongs to the time to first token; inside the decode window it hid the
    # speed-up on long prompts (a 1,000-token document: 1.05x against 1.9x on a short chat).
    target, draft_model = fp32_and_draft
    prompt = target.codec.encode_chat([{"role": "user", "content": QUESTIONS[0]}])
    target.runner.reset()
    draft_model.runner.reset()
    events = speculative_generate(target, prompt, SamplingParams(max_new_tokens=8), proposer=DraftModel(draft_model))
    first = next(e for e in events if e.token_id is not None)
    assert draft_model.runner.ids == prompt
    assert first.token_id is not None
    events.close()


def test_a_draft_with_another_tokenizer_is_refused_with_the_reason(default_model_dir, tiny_models):
    with pytest.raises(ModelLoadError, match="cannot draft for .*vocabulary has .* tokens"):
        check_draft(default_model_dir, tiny_models / "genai")
    with pytest.raises(ModelLoadError, match="cannot draft for itself"):
        check_draft(default_model_dir, default_model_dir)


def test_only_compatible_models_are_offered_as_drafts(default_model_dir, fp32_model_dir, tiny_models, tmp_path):
    candidates = [fp32_model_dir, tiny_models / "genai", tmp_path, default_model_dir]
    assert compatible_drafts(default_model_dir, candidates) == [fp32_model_dir]


def _generate(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "generate", "Say hello.", "--max-new-tokens", "4",
                           *flags], capture_output=True, text=True, timeout=300)


def test_the_cli_refuses_a_missing_or_mismatched_draft_model(default_model_dir, tiny_models):
    done = _generate("--model", str(default_model_dir), "--speculate", "draft")
    assert done.returncode != 0 and "--speculate draft needs --draft-model" in done.stderr
    done = _generate("--model", str(default_model_dir), "--speculate", "draft", "--draft-model", str(tiny_models / "genai"))
    assert done.returncode != 0 and "cannot draft for" in done.stderr


def test_the_vocabulary_read_from_json_agrees_with_the_tokenizer_library(default_model_dir, tiny_models):
    from engine.runtime.tokenizer import TextCodec
    from engine.runtime.vocabulary import read_vocabulary

    for folder in (default_model_dir, tiny_models / "genai"):
        assert read_vocabulary(folder).size == TextCodec(folder).tokenizer.get_vocab_size(with_added_tokens=True)
