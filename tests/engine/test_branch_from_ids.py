"""Continuing a reply from its exact token ids (a branch from a chosen alternative).

The reply's ids go after the prompt as they are, never re-encoded from text, so the
cache keeps the prompt and the kept tokens and only the re-fed tail is prefilled.
"""

from __future__ import annotations

import pytest

from engine.core.events import SamplingParams
from engine.generation.chat import fit_reply_prompt, stream_chat
from engine.generation.generate import REFEED_TOKENS

MESSAGES = [{"role": "user", "content": "Name three colours of the rainbow."}]
PARAMS = SamplingParams(max_new_tokens=12, top_logprobs=5)


def test_a_branch_continues_from_the_chosen_token_and_reuses_the_cache(model):
    first = list(stream_chat(model, MESSAGES, PARAMS))
    tokens = [e for e in first if e.logprobs is not None]
    assert len(tokens) >= 4
    index = 2
    alternative = next(a for a in tokens[index].logprobs.top if a.token_id != tokens[index].token_id)
    kept = [e.token_id for e in tokens[:index]] + [alternative.token_id]
    partial = {"role": "assistant", "content": "".join(e.text for e in tokens[:index]) + alternative.text}
    branch = list(stream_chat(model, MESSAGES + [partial], PARAMS, continue_last=True, prefix_ids=kept))
    prompt_tokens = first[0].prompt_tokens
    assert branch[0].prompt_tokens == prompt_tokens + len(kept)
    # Trimmed, not rebuilt: everything before the branch point stays, less the re-fed tail.
    assert branch[0].cached_tokens == prompt_tokens + len(kept) - REFEED_TOKENS > prompt_tokens
    assert branch[-1].finish_reason in ("stop", "length")
    assert any(e.logprobs is not None for e in branch)


def test_prefix_ids_go_in_as_given_and_need_continue_last(model):
    ids, _ = fit_reply_prompt(model, MESSAGES + [{"role": "assistant", "content": "ignored"}], PARAMS,
                              "stop", None, continue_last=True, prefix_ids=[7, 8, 9])
    assert ids[-3:] == [7, 8, 9] and ids[:-3] == model.codec.encode_chat(MESSAGES)
    with pytest.raises(ValueError, match="continue_last"):
        fit_reply_prompt(model, MESSAGES, PARAMS, "stop", None, prefix_ids=[7])
