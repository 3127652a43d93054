"""The engine drives all three model-folder layouts exactly like transformers does.

One tiny random Llama is exported as a GenAI folder (GroupQueryAttention, shared
KV buffer), an optimum folder (KV grown by Concat) and an onnx-community folder
(with and without external data). Greedy ids from Hearth's engine must equal
an argmax loop over the transformers checkpoint, which recomputes the whole
sequence at every step and so shares no cache logic with the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from engine.core.events import LoadOptions, SamplingParams
from engine.generation.generate import stream_generate
from engine.runtime.model import LoadedModel, load_model
from engine.runtime.tokenizer import TextCodec
from tests.engine.tiny_models import LAYOUTS, tiny_models_fixture  # noqa: F401 - the tiny_models fixture

NEW_TOKENS = 32
CONTEXT = 256
# The last prompt token is always fed again (its logits pick the first new token);
# the engine may re-feed a few more, so reuse is checked within this slack.
REFEED_SLACK = 4
# Float32 graphs agree with torch to about 1e-5; a top-2 gap far above that keeps
# the golden sequence free of ties that rounding could flip.
MIN_MARGIN = 1e-3
REUSE_LAYOUTS = ("genai", "optimum")  # the shared-buffer and the Concat cache paths

Greedy = Callable[[Sequence[int]], list[int]]


def _messages(question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You answer in short sentences."},
        {"role": "user", "content": question},
    ]


@pytest.fixture(scope="session")
def hf_codec(tiny_models: Path) -> TextCodec:
    return TextCodec(tiny_models / "hf")


@pytest.fixture(scope="session")
def hf_greedy(tiny_models: Path) -> Greedy:
    """Greedy continuation by transformers, full recompute per token, no EOS stop."""
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny_models / "hf", dtype=torch.float32).eval()
    memo: dict[tuple[int, ...], list[int]] = {}

    def greedy(prompt: Sequence[int]) -> list[int]:
        key = tuple(prompt)
        if key not in memo:
            ids = list(prompt)
            # One thread: on a model this small, torch's thread pool costs 50x the math.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.no_grad():
                    for _ in range(NEW_TOKENS):
                        logits = model(torch.tensor([ids])).logits[0, -1]
                        top = torch.topk(logits, 2).values
                        assert top[0] - top[1] > MIN_MARGIN, "near-tied logits: change SEED or INIT_RANGE in tiny_models"
                        ids.append(int(logits.argmax()))
            finally:
                torch.set_num_threads(threads)
            memo[key] = ids[len(prompt) :]
        return memo[key]

    return greedy


def _load(root: Path, layout: str) -> LoadedModel:
    return load_model(root / layout, LoadOptions(context_length=CONTEXT))


def _generate(model: LoadedModel, prompt: Sequence[int], chunk: int | None = None) -> tuple[list[int], int]:
    """Greedy ids and how many prompt tokens came from the cache."""
    kwargs = {} if chunk is None else {"prefill_chunk": chunk}
    events = list(stream_generate(model, prompt, SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True), **kwargs))
    assert events[-1].finish_reason == "length", events[-1].error
    return [e.token_id for e in events if e.token_id is not None], events[-1].cached_tokens


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_is_detected(tiny_models: Path, layout: str) -> None:
    model = _load(tiny_models, layout)
    expected = {"genai": "genai", "optimum": "optimum"}.get(layout, "onnx-community")
    assert model.info.layout == expected
    assert model.spec.shares_kv_buffer == (layout == "genai")
    assert (model.spec.num_layers, model.spec.kv_heads, model.spec.head_size) == (2, 2, 16)
    # The size counts external weights too (model.onnx.data, onnx/model.onnx_data).
    assert model.info.size_bytes > 4 * model.info.parameters


@pytest.mark.parametrize("layout", LAYOUTS)
def test_chat_prompt_tokens_match_checkpoint(tiny_models: Path, hf_codec: TextCodec, layout: str) -> None:
    # The GenAI builder rewrites tokenizer.json; it must still encode the same ids.
    messages = _messages("What keeps the house warm in winter?")
    assert _load(tiny_models, layout).codec.encode_chat(messages) == hf_codec.encode_chat(messages)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_greedy_matches_transformers(tiny_models: Path, hf_codec: TextCodec, hf_greedy: Greedy, layout: str) -> None:
    prompt = hf_codec.encode_chat(_messages("What keeps the house warm in winter?"))
    ids, cached = _generate(_load(tiny_models, layout), prompt)
    assert cached == 0
    assert ids == hf_greedy(prompt)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_chunked_prefill_matches_transformers(
    tiny_models: Path, hf_codec: TextCodec, hf_greedy: Greedy, layout: str
) -> None:
    prompt = hf_codec.encode_chat(_messages("Which numbers appear, 42 or 2048?"))
    ids, _ = _generate(_load(tiny_models, layout), prompt, chunk=3)
    assert ids == hf_greedy(prompt)


@pytest.mark.parametrize("layout", REUSE_LAYOUTS)
def test_follow_up_turn_feeds_only_new_tokens(
    tiny_models: Path, hf_codec: TextCodec, hf_greedy: Greedy, layout: str
) -> None:
    model = _load(tiny_models, layout)
    first = hf_codec.encode_chat(_messages("Tell me about the stars."))
    reply, _ = _generate(model, first)
    follow_up = first + reply + hf_codec.encode("<|im_end|>\n<|im_start|>user\nAnd the garden?<|im_end|>\n")
    follow_up += hf_codec.encode("<|im_start|>assistant\n")
    ids, cached = _generate(model, follow_up, chunk=4)
    # The last reply token was sampled but never fed, so the cache ends just before it.
    assert len(first) + len(reply) - 1 - REFEED_SLACK <= cached < len(first) + len(reply)
    assert ids == hf_greedy(follow_up)


@pytest.mark.parametrize("layout", REUSE_LAYOUTS)
def test_regenerate_trims_back_to_the_prompt(
    tiny_models: Path, hf_codec: TextCodec, hf_greedy: Greedy, layout: str
) -> None:
    model = _load(tiny_models, layout)
    prompt = hf_codec.encode_chat(_messages("Tell me about the stars."))
    first, _ = _generate(model, prompt)
    again, cached = _generate(model, prompt)
    assert len(prompt) - REFEED_SLACK <= cached < len(prompt)
    assert again == first == hf_greedy(prompt)


@pytest.mark.parametrize("layout", REUSE_LAYOUTS)
def test_edited_prompt_keeps_the_common_prefix(
    tiny_models: Path, hf_codec: TextCodec, hf_greedy: Greedy, layout: str
) -> None:
    model = _load(tiny_models, layout)
    original = hf_codec.encode_chat(_messages("Tell me about the stars."))
    edited = hf_codec.encode_chat(_messages("Tell me about the weather."))
    _generate(model, original)
    ids, cached = _generate(model, edited)
    # The system turn and "Tell me about the" are shared; the cache is trimmed back to them.
    shared = next(i for i, (a, b) in enumerate(zip(original, edited)) if a != b)
    assert shared > len(edited) // 2
    assert shared - REFEED_SLACK <= cached <= shared
    assert ids == hf_greedy(edited)
