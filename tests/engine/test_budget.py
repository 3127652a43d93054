"""The context budget on the real tokenizer: segments that add up to the prompt the policy sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.events import SamplingParams
from engine.documents import Document, Span
from engine.generation.budget import measure_budget
from engine.generation.chat import fit_messages, reply_reserve
from engine.generation.prompt import Turn, compose

pytestmark = pytest.mark.slow

PARAMS = SamplingParams(max_new_tokens=64)
LINE = "The keeper lights the lamp at dusk for the fishing boats."


def _doc(name: str, lines: int) -> Document:
    text = "\n".join(f"{LINE} ({n})" for n in range(lines))
    return Document(name, Path(name), "text", text, (Span(0, len(text), 1, lines),), len(text))


def _history(exchanges: int, words: int) -> list[Turn]:
    turns = []
    for i in range(exchanges):
        turns += [Turn("user", f"Question {i}: " + "tell me more. " * words),
                  Turn("assistant", f"Answer {i}: " + "it is bright. " * words)]
    return turns


def _sent_ids(codec, system: str, turns: list[Turn], context: int, policy: str) -> list[int]:
    count = lambda text: len(codec.encode(text))  # noqa: E731
    composed = compose(system, turns, count, context, PARAMS.max_new_tokens)
    return fit_messages(codec, composed.messages, context, reply_reserve(PARAMS, context), policy).ids


def _tokens(budget, kind: str) -> int:
    return sum(s.tokens for s in budget.segments if s.kind == kind)


@pytest.mark.parametrize("system", ["You are Hearth.", ""])
def test_segments_add_up_to_the_ids_sent(loaded_model, system):
    codec = loaded_model.codec
    turns = _history(2, 5) + [Turn("user", "What about the fog?", (_doc("a.txt", 5), _doc("b.md", 3)))]
    budget = measure_budget(codec, system, turns, 2048, PARAMS, "drop_oldest")
    assert budget.prompt_tokens == len(_sent_ids(codec, system, turns, 2048, "drop_oldest"))
    assert sum(s.tokens for s in budget.segments if s.kind not in ("reserve", "free")) == budget.prompt_tokens
    assert sum(s.tokens for s in budget.segments) == 2048
    docs = [s for s in budget.segments if s.kind == "document"]
    assert [d.label for d in docs] == ["a.txt", "b.md"] and docs[0].tokens > docs[1].tokens > 0
    assert _tokens(budget, "message") == len(codec.encode("What about the fog?"))
    assert (_tokens(budget, "system") > 0) == bool(system)
    assert _tokens(budget, "template") > 0 and budget.outcome == ""


def test_drop_oldest_names_the_messages_it_drops(loaded_model):
    turns = _history(6, 12) + [Turn("user", "And then?")]
    budget = measure_budget(loaded_model.codec, "S.", turns, 512, PARAMS, "drop_oldest")
    fitted_ids = _sent_ids(loaded_model.codec, "S.", turns, 512, "drop_oldest")
    assert budget.prompt_tokens == len(fitted_ids) and "Sending drops the" in budget.outcome


def test_truncate_middle_says_where_it_cuts(loaded_model):
    turns = _history(6, 12) + [Turn("user", "And then?")]
    budget = measure_budget(loaded_model.codec, "S.", turns, 512, PARAMS, "truncate_middle")
    assert budget.prompt_tokens == len(_sent_ids(loaded_model.codec, "S.", turns, 512, "truncate_middle"))
    assert "out of the middle of the earlier messages" in budget.outcome
    long_message = [Turn("user", "Read this: " + "words and more words. " * 200)]
    budget = measure_budget(loaded_model.codec, "S.", long_message, 512, PARAMS, "truncate_middle")
    assert "out of the middle of your message" in budget.outcome and budget.sendable


def test_stop_refuses_before_sending(loaded_model):
    turns = _history(6, 12) + [Turn("user", "And then?")]
    budget = measure_budget(loaded_model.codec, "S.", turns, 512, PARAMS, "stop")
    assert not budget.sendable and budget.outcome.startswith("Too long: the reply cannot start")
    assert budget.prompt_tokens > 512


def test_a_document_too_long_for_the_room_goes_in_as_excerpts(loaded_model):
    turns = [Turn("user", "When is the lamp lit?", (_doc("log.txt", 400),))]
    budget = measure_budget(loaded_model.codec, "S.", turns, 1024, PARAMS, "drop_oldest")
    doc = next(s for s in budget.segments if s.kind == "document")
    assert "not included" in doc.detail and "log.txt" in budget.outcome
    assert budget.prompt_tokens == len(_sent_ids(loaded_model.codec, "S.", turns, 1024, "drop_oldest"))


def test_a_follow_up_counts_its_new_excerpts_as_earlier_documents(loaded_model):
    codec = loaded_model.codec
    log = _doc("log.txt", 400)
    turns = [Turn("user", "When is the lamp lit?", (log,)), Turn("assistant", "At dusk."),
             Turn("user", "Which boats is the lamp lit for?")]
    budget = measure_budget(codec, "S.", turns, 1024, PARAMS, "drop_oldest")
    earlier = next(s for s in budget.segments if s.label == "Earlier documents")
    assert earlier.kind == "document" and earlier.tokens > 0
    assert _tokens(budget, "message") == len(codec.encode("Which boats is the lamp lit for?"))
    assert budget.prompt_tokens == len(_sent_ids(codec, "S.", turns, 1024, "drop_oldest"))
    assert sum(s.tokens for s in budget.segments if s.kind not in ("reserve", "free")) == budget.prompt_tokens
