"""Composing a chat with attached documents keeps the start of the prompt stable across turns.

The KV cache is reused by longest common prefix, so an earlier turn's document excerpt
must not change when a later turn is sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.documents import extract
from engine.generation.prompt import DOCS_INTRO, ComposedPrompt, Turn, compose, follow_up_budget

CONTEXT = 2048
MAX_NEW = 256
TOPICS = ("fire", "water", "stone", "wind", "garden", "stars", "winter", "bread")


@pytest.fixture
def big_document(tmp_path: Path):
    """A text file of about 6,000 tokens, much more than the context holds."""
    lines = []
    for n in range(300):
        topic = TOPICS[n % len(TOPICS)]
        lines.append(f"Section {n}: the {topic} keeps its own notes, number {n * 7}, about the {topic} by the hearth.")
        lines.append("")
    path = tmp_path / "report.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return extract(path)


def _compose(codec, turns: list[Turn]) -> ComposedPrompt:
    return compose("You are Hearth.", turns, lambda text: len(codec.encode(text)), CONTEXT, MAX_NEW)


def test_earlier_turns_keep_their_excerpts_and_the_prompt_grows_by_extension(loaded_model, big_document):
    codec = loaded_model.codec
    turns = [Turn("user", "What does the report say about fire?", (big_document,))]
    answer = "The report says the fire keeps its own notes by the hearth. " * 8
    prompts = [_compose(codec, turns)]
    assert prompts[0].omitted  # the document did not fit whole: an excerpt was chosen
    for question in ("And about water?", "And the stars?"):
        turns += [Turn("assistant", answer), Turn("user", question)]
        prompts.append(_compose(codec, turns))
    for before, after in zip(prompts, prompts[1:]):
        assert after.messages[: len(before.messages)] == before.messages  # the excerpt stayed the same
        earlier = codec.encode_chat(before.messages, add_generation_prompt=False)
        now = codec.encode_chat(after.messages)
        assert now[: len(earlier)] == earlier  # so the cache keeps every token of the earlier turns
        assert len(now) <= CONTEXT - MAX_NEW


def test_a_chat_that_outgrows_the_context_shrinks_the_excerpts_instead(loaded_model, big_document):
    codec = loaded_model.codec
    turns = [Turn("user", "What does the report say about fire?", (big_document,))]
    answer = "The report says the fire keeps its own notes by the hearth. " * 15
    for question in ("And about water?", "And the stars?", "And the garden?", "And winter?"):
        turns += [Turn("assistant", answer), Turn("user", question)]
    composed = _compose(codec, turns)
    assert composed.document_tokens > 0
    assert len(codec.encode_chat(composed.messages)) <= CONTEXT - MAX_NEW


def _sections(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines() if line.startswith("Section ")]


def test_a_follow_up_question_appends_only_excerpts_not_yet_in_the_chat(loaded_model, big_document):
    codec = loaded_model.codec
    first = [Turn("user", "What does the report say about fire?", (big_document,))]
    turns = first + [Turn("assistant", "The fire keeps its notes."), Turn("user", "What about the water?")]
    before, after = _compose(codec, first), _compose(codec, turns)
    assert after.messages[: len(before.messages)] == before.messages  # the first excerpts stay where they are
    follow_up = after.messages[-1]["content"]
    assert follow_up.startswith(DOCS_INTRO) and follow_up.endswith("What about the water?")
    new = _sections(follow_up)
    assert any("the water keeps" in line for line in follow_up.splitlines())
    assert not set(new) & set(_sections(before.messages[-1]["content"]))  # nothing already there is repeated
    question = len(codec.encode("What about the water?"))
    assert len(codec.encode(follow_up)) <= follow_up_budget(CONTEXT, None) + question + 16  # a few chunks at most
    assert after.omitted == before.omitted  # the note about what is out is the first turn's


def test_a_follow_up_about_a_document_that_went_in_whole_adds_nothing(loaded_model, tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("The water is cold in winter.\n", encoding="utf-8")
    turns = [Turn("user", "Is the water cold?", (extract(path),)), Turn("assistant", "Yes."),
             Turn("user", "What about the water in winter?")]
    assert _compose(loaded_model.codec, turns).messages[-1]["content"] == "What about the water in winter?"
