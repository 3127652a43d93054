"""Turning a stored conversation into the messages the engine reads.

Attached documents go in front of the question they were sent with: whole when they
fit the room left in the context, otherwise the most relevant chunks
(``engine.documents.retrieval.build_context``), with a note saying what was left out.
Runs on the worker thread: counting tokens over long documents is slow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.documents import Document
from engine.documents.retrieval import build_context

DOCS_INTRO = "Answer using these attached documents."
# Room kept for the chat template's own tokens around each message.
_TEMPLATE_SLACK = 16


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True)
class ComposedPrompt:
    messages: tuple[dict[str, str], ...]
    omitted: tuple[str, ...] = ()  # "report.pdf: pages 4-9 not included"
    document_tokens: int = 0
    fits_whole: bool = True


def document_budget(context_length: int, max_new_tokens: int, other_tokens: int) -> int:
    """Tokens left for documents once the chat so far and the reply have room."""
    reply = max(1, min(max_new_tokens, context_length // 4))
    return max(0, context_length - reply - other_tokens - _TEMPLATE_SLACK)


def compose(
    system_prompt: str,
    turns: Sequence[Turn],
    count_tokens: Callable[[str], int],
    context_length: int,
    max_new_tokens: int,
) -> ComposedPrompt:
    """The engine's message list, with documents fitted to what the context has left."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    plain = sum(count_tokens(m["content"]) + _TEMPLATE_SLACK for m in messages)
    plain += sum(count_tokens(t.content) + _TEMPLATE_SLACK for t in turns)
    budget = document_budget(context_length, max_new_tokens, plain)
    contents = [t.content for t in turns]
    omitted: list[str] = []
    used = 0
    whole = True
    # The newest documents matter most: they get first call on the budget.
    for index in reversed(range(len(turns))):
        turn = turns[index]
        if not turn.documents:
            continue
        context = build_context(turn.documents, turn.content, count_tokens, max(0, budget - used))
        used += context.tokens
        whole = whole and context.fits_whole
        omitted.extend(context.omitted)
        if context.text:
            contents[index] = f"{DOCS_INTRO}\n\n{context.text}\n\n{turn.content}"
    messages += [{"role": t.role, "content": c} for t, c in zip(turns, contents)]
    return ComposedPrompt(tuple(messages), tuple(omitted), used, whole)
