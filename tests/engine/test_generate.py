"""Generation on the real default model: prefix reuse, stopping, cancelling, figures."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.core.errors import ContextOverflowError, InvalidSamplingError
from engine.core.events import LoadOptions, PrefillProgress, SamplingParams
from engine.generation.chat import ChatSession
from engine.generation.detokenizer import StreamingDetokenizer
from engine.generation.generate import PREFILL_CHUNK, stream_generate
from engine.runtime.model import load_model

GREEDY = SamplingParams(max_new_tokens=24, ignore_eos=True)


def _ids(events):
    return [e.token_id for e in events if e.token_id is not None]


def _prompt(model, text):
    return model.codec.encode_chat([{"role": "user", "content": text}])


def test_events_carry_text_and_figures(model):
    events = list(stream_generate(model, _prompt(model, "Name three colours."), GREEDY))
    last = events[-1]
    assert last.finish_reason == "length" and last.token_id is None
    assert last.generated_tokens == 24 == len(_ids(events))
    assert last.ttft_s > 0 and last.prefill_tps > 0 and last.decode_tps > 0
    assert last.context_size == 2048 and last.context_used == last.prompt_tokens + 23
    assert "".join(e.text for e in events) == model.codec.decode(_ids(events))


def test_edited_question_through_prefix_reuse_matches_a_cold_run(model):
    document = "Notes: the mill was built in 1820, rebuilt in 1902 and closed in 1968. " * 8
    first = _prompt(model, document + "When was the mill built?")
    list(stream_generate(model, first, GREEDY))  # leaves prompt + reply in the cache
    edited = _prompt(model, document + "When did the mill close?")
    warm = list(stream_generate(model, edited, GREEDY))
    shared = next(i for i, (a, b) in enumerate(zip(first, edited)) if a != b)
    assert warm[-1].cached_tokens == shared  # only the edited tail was prefilled
    model.runner.reset()
    cold = list(stream_generate(model, edited, GREEDY))
    assert cold[-1].cached_tokens == 0
    assert _ids(warm) == _ids(cold)


def test_follow_up_turn_reuses_the_whole_previous_exchange(model):
    first = _prompt(model, "What is the capital of France?")
    reply = list(stream_generate(model, first, SamplingParams(max_new_tokens=64)))
    answer = _ids(reply)
    history = [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": model.codec.decode(answer)},
        {"role": "user", "content": "And of Italy?"},
    ]
    follow_up = model.codec.encode_chat(history)
    warm = list(stream_generate(model, follow_up, GREEDY))
    # Everything up to the new question came from the cache.
    # A reply cut at the length limit never fed its last token; one that stopped fed
    # them all (the last one gave the end-of-turn logits), and the stop token is not
    # among the ids.
    unfed = 1 if reply[-1].finish_reason == "length" else 0
    assert warm[-1].cached_tokens == len(first) + len(answer) - unfed
    # The cached reply was computed one row at a time, whose int8 rounding differs
    # slightly from a batched prefill, so a cold run is compared by its logits
    # (the exact id-for-id check of this path runs on fp32 graphs in test_layouts).
    model.runner.trim(warm[-1].cached_tokens)
    warm_logits = model.runner.forward(follow_up[warm[-1].cached_tokens :]).copy()
    model.runner.reset()
    cold_logits = model.runner.forward(follow_up)
    assert np.corrcoef(warm_logits, cold_logits)[0, 1] > 0.995
    assert int(np.argmax(cold_logits)) in np.argsort(-warm_logits)[:3]


def test_regenerate_is_a_trim_and_repeats_greedy_output(model):
    prompt = _prompt(model, "Tell me about rivers.")
    cold = list(stream_generate(model, prompt, GREEDY))
    again = list(stream_generate(model, prompt, GREEDY))
    assert again[-1].cached_tokens == len(prompt) - 2
    assert _ids(again) == _ids(cold)


def test_chunked_prefill_reports_progress_and_matches_one_pass(model):
    prompt = _prompt(model, "Explain how a candle burns, step by step, in detail. " * 6)
    one_pass = _ids(stream_generate(model, prompt, GREEDY))
    model.runner.reset()
    progress = []
    chunked = _ids(stream_generate(model, prompt, GREEDY, on_prefill=progress.append, prefill_chunk=32))
    assert chunked == one_pass
    done = [p.done for p in progress]
    assert done[:-1] == list(range(32, 32 * len(done), 32))
    assert done[-1] == progress[-1].total == len(prompt)


@pytest.mark.parametrize("extra", [0, 1])
def test_prefill_never_ends_on_a_one_token_chunk(model, extra):
    # One row rounds differently in the quantized MatMul than several, so a lone
    # last token would make a chunked prefill differ from a one-pass prefill.
    base = _prompt(model, "Describe a lighthouse.")
    prompt = base + [model.codec.encode(" the")[0]] * (32 - len(base) % 32 + extra)
    one_pass = _ids(stream_generate(model, prompt, GREEDY))
    model.runner.reset()
    progress = []
    chunked = _ids(stream_generate(model, prompt, GREEDY, on_prefill=progress.append, prefill_chunk=32))
    steps = [b.done - a.done for a, b in zip([PrefillProgress(0, 0)] + progress, progress)]
    assert min(steps) >= 2 and progress[-1].done == len(prompt)
    assert chunked == one_pass


def test_cancel_stops_within_a_token(model):
    cancel = threading.Event()
    events = []
    for event in stream_generate(model, _prompt(model, "Count to fifty."), SamplingParams(max_new_tokens=200), cancel):
        events.append(event)
        if len(events) == 3:
            cancel.set()
    assert events[-1].finish_reason == "cancelled"
    assert len(_ids(events)) == 3


def test_long_document_prefill_shows_progress_and_cancels_midway(default_model_dir):
    model = load_model(default_model_dir, LoadOptions(threads=2, context_length=4608))
    text = "The river flows past the old mill and under the stone bridge. " * 330
    prompt = _prompt(model, text + "\nSummarize.")
    assert len(prompt) > 4000
    cancel = threading.Event()
    seen = []

    def on_prefill(progress):
        seen.append(progress)
        if len(seen) == 2:
            cancel.set()

    events = list(stream_generate(model, prompt, GREEDY, cancel, on_prefill))
    assert [p.done for p in seen] == [PREFILL_CHUNK, 2 * PREFILL_CHUNK]
    assert events[-1].finish_reason == "cancelled" and not _ids(events)
    assert model.runner.cached_tokens == 2 * PREFILL_CHUNK  # kept for the next request


def test_context_full_ends_the_stream(default_model_dir):
    model = load_model(default_model_dir, LoadOptions(threads=2, context_length=64))
    prompt = _prompt(model, "Hi")
    events = list(stream_generate(model, prompt, SamplingParams(max_new_tokens=500, ignore_eos=True)))
    assert events[-1].finish_reason == "context_full"
    assert events[-1].context_used <= 64


def test_stop_string_ends_generation_without_leaking(model):
    prompt = _prompt(model, "What is the capital of France?")
    full = "".join(e.text for e in stream_generate(model, prompt, GREEDY))
    word = full.split()[3]
    events = list(stream_generate(model, prompt, SamplingParams(max_new_tokens=24, stop=(word,))))
    text = "".join(e.text for e in events)
    assert events[-1].finish_reason == "stop"
    assert text == full[: full.index(word)]


def test_eos_ends_with_stop(model):
    prompt = _prompt(model, "Reply with just the word yes.")
    events = list(stream_generate(model, prompt, SamplingParams(max_new_tokens=64)))
    assert events[-1].finish_reason == "stop"
    assert events[-1].generated_tokens < 64


def test_prompt_longer_than_context_is_refused(model):
    with pytest.raises(ContextOverflowError, match="context holds 2048"):
        next(stream_generate(model, [1] * 3000, GREEDY))


def test_out_of_range_sampling_is_refused_before_any_work(model):
    with pytest.raises(InvalidSamplingError, match="top_p"):
        next(stream_generate(model, [1, 2, 3], SamplingParams(top_p=2.0)))
    assert model.runner.cached_tokens == 0


@pytest.mark.parametrize("text", ["Hello 🙂👍🏽 world", "日本語のテキストと中文", "1234567890 3.14159 2,048", "naïve café — ½"])
def test_streaming_detokenizer_never_splits_characters(model, text):
    ids = model.codec.encode(text)
    detok = StreamingDetokenizer(model.codec)
    pieces = [detok.add(i) for i in ids] + [detok.flush()]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == model.codec.decode(ids) == text


def test_chat_session_keeps_history_and_regenerates(model):
    session = ChatSession(model, "You are brief.")
    first = "".join(e.text for e in session.send("Say hello.", GREEDY))
    regen = list(session.regenerate(GREEDY))
    assert "".join(e.text for e in regen) == first
    assert regen[-1].cached_tokens > 0
    assert [m["role"] for m in session.messages] == ["system", "user", "assistant"]
