"""Greedy ids against independent references: transformers and onnxruntime-genai."""

from __future__ import annotations

import pytest

from engine.core.events import LoadOptions, SamplingParams
from engine.generation.benchmark import LONG_QUESTION, SHORT_QUESTION
from engine.generation.generate import stream_generate
from engine.runtime.model import load_model

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _greedy(model, ids, n):
    params = SamplingParams(max_new_tokens=n, ignore_eos=True)
    return [e.token_id for e in stream_generate(model, ids, params) if e.token_id is not None]


def test_fp32_conversion_matches_transformers_for_64_tokens(fp32_model_dir, default_gguf):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = load_model(fp32_model_dir, LoadOptions(threads=2, context_length=512))
    ids = model.codec.encode_chat(QUESTION)
    ours = _greedy(model, ids, 64)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        reference = transformers.AutoModelForCausalLM.from_pretrained(
            str(default_gguf.parent), gguf_file=default_gguf.name, torch_dtype=torch.float32
        )
        with torch.no_grad():
            out = reference.generate(
                torch.tensor([ids]), max_new_tokens=64, min_new_tokens=64, do_sample=False, pad_token_id=2
            )
    finally:
        torch.set_num_threads(threads)
    theirs = out[0, len(ids) :].tolist()
    assert model.codec.decode(theirs).startswith("The capital of France is Paris")
    assert ours == theirs


@pytest.mark.parametrize("question", [SHORT_QUESTION, LONG_QUESTION], ids=["short", "long"])
def test_default_model_matches_onnxruntime_genai_for_128_tokens(default_model_dir, question):
    og = pytest.importorskip("onnxruntime_genai")
    model = load_model(default_model_dir, LoadOptions(provider="cpu", threads=2, context_length=1024))
    ids = model.codec.encode_chat([{"role": "user", "content": question}])
    ours = _greedy(model, ids, 128)

    config = og.Config(str(default_model_dir))
    config.clear_providers()
    genai = og.Model(config)
    params = og.GeneratorParams(genai)
    total = len(ids) + 128
    params.set_search_options(do_sample=False, max_length=total, min_length=total)
    generator = og.Generator(genai, params)
    generator.append_tokens(ids)
    theirs = []
    while not generator.is_done():
        generator.generate_next_token()
        theirs.append(int(generator.get_next_tokens()[0]))
    assert len(theirs) == 128
    assert ours == theirs
