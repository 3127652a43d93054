"""Turning a stored conversation into the messages the engine reads.

Attached documents go in front of the question they were sent with: whole when they
fit the room the context had when they were sent, otherwise the most relevant chunks
(``engine.documents.retrieval.build_context``), with a note saying what was left out.
A later question without documents of its own gets the chunks of those documents most
relevant to it that no earlier turn carries, a few at most: what is already there stays
where it is, so the cache reuses it and the question costs its own tokens and the new ones.
Given the installed embedder's scorer (``engine.documents.dense.installed_scorer()``),
the chunks are ranked by BM25 and meaning together; without it, by BM25 alone.
Runs on the worker thread: counting tokens over long documents is slow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from engine.documents import Document
from engine.documents.retrieval import DenseScores, DocumentContext, build_context, retrieval_chunk_tokens
from engine.documents.sources import Source

DOCS_INTRO = "Answer using these attached documents."
# Room kept for the chat template's own tokens around each message.
_TEMPLATE_SLACK = 16
# A follow-up question's new excerpts take a sixteenth of the context, or two chunks in a
# small one: a few chunks, so its prefill stays a fraction of the first question's.
FOLLOW_UP_SHARE = 16


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
    # Every excerpt (or whole document) in the messages, in prompt order: what a reply can cite.
    sources: tuple[Source, ...] = ()


def _room(context_length: int, max_new_tokens: int, other_tokens: int) -> int:
    """Tokens left once the chat so far and the reply have room."""
    reply = max(1, min(max_new_tokens, context_length // 4))
    return max(0, context_length - reply - other_tokens - _TEMPLATE_SLACK)


def document_budget(context_length: int, max_new_tokens: int, other_tokens: int) -> int:
    """Tokens the documents of a new message may take.

    They leave part of the room (a quarter of the context, at most half of what is left) for
    the follow-ups: excerpts chosen now are kept as they are in later turns, so the cache can
    reuse them, until the chat no longer fits.
    """
    room = _room(context_length, max_new_tokens, other_tokens)
    return room - min(context_length // 4, room // 2)


def compose(
    system_prompt: str,
    turns: Sequence[Turn],
    count_tokens: Callable[[str], int],
    context_length: int,
    max_new_tokens: int,
    dense: DenseScores | None = None,
) -> ComposedPrompt:
    """The engine's message list, with each turn's documents fitted to the context.

    Each turn's documents are fitted against the budget as it was when that turn was sent
    (the turns before it, and their excerpts), so later turns never change an earlier
    turn's excerpt and the prompt only grows at its end. Once the chat outgrows the
    context, all excerpts are fitted again, the newest first, so the documents shrink
    rather than the overflow policy dropping the turns that carry them.

    ``dense`` ranks chunks by meaning beside BM25 (None: BM25 alone).
    """
    messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    system = sum(count_tokens(m["content"]) + _TEMPLATE_SLACK for m in messages)
    plain = [count_tokens(t.content) + _TEMPLATE_SLACK for t in turns]
    fitted = _fit_as_sent(turns, count_tokens, context_length, max_new_tokens, system, plain, dense)
    if sum(c.tokens for c in fitted.values()) > _room(context_length, max_new_tokens, system + sum(plain)):
        room = _room(context_length, max_new_tokens, system + sum(plain))
        fitted = _fit_newest_first(turns, count_tokens, room, dense)
    contents = [t.content for t in turns]
    omitted: list[str] = []
    sources: list[Source] = []
    for index in sorted(fitted):
        context = fitted[index]
        omitted.extend(context.omitted)
        sources.extend(context.sources)
        if context.text:
            contents[index] = f"{DOCS_INTRO}\n\n{context.text}\n\n{turns[index].content}"
    messages += [{"role": t.role, "content": c} for t, c in zip(turns, contents)]
    used = sum(c.tokens for c in fitted.values())
    whole = all(c.fits_whole for c in fitted.values())
    return ComposedPrompt(tuple(messages), tuple(omitted), used, whole, tuple(sources))


def follow_up_budget(context_length: int, dense: DenseScores | None) -> int:
    """The most tokens of new excerpts a question without documents of its own may bring."""
    return max(context_length // FOLLOW_UP_SHARE, 2 * retrieval_chunk_tokens(dense))


def _fit_as_sent(
    turns: Sequence[Turn], count_tokens: Callable[[str], int], context_length: int, max_new_tokens: int,
    system: int, plain: list[int], dense: DenseScores | None,
) -> dict[int, DocumentContext]:
    """Each turn's documents against the budget of the moment it was sent: stable as turns are added.

    A user turn without documents takes new excerpts of the earlier turns' chunked documents.
    """
    fitted: dict[int, DocumentContext] = {}
    used = 0
    quotable: list[Document] = []  # documents sent so far that did not go in whole
    included: frozenset = frozenset()
    for index, turn in enumerate(turns):
        before = system + sum(plain[: index + 1]) + used
        if turn.documents:
            budget = document_budget(context_length, max_new_tokens, before)
            context = build_context(turn.documents, turn.content, count_tokens, max(0, budget), dense=dense)
            if not context.fits_whole:
                quotable.extend(turn.documents)
        elif quotable and turn.role == "user":
            # The room documents leave free is kept for exactly this.
            budget = min(_room(context_length, max_new_tokens, before), follow_up_budget(context_length, dense))
            context = build_context(quotable, turn.content, count_tokens, max(0, budget), dense=dense,
                                    already_in=included)
            context = replace(context, omitted=())  # the first turn's note already says what is out
        else:
            continue
        fitted[index] = context
        included |= context.included
        used += context.tokens
    return fitted


def _fit_newest_first(
    turns: Sequence[Turn], count_tokens: Callable[[str], int], room: int, dense: DenseScores | None
) -> dict[int, DocumentContext]:
    """All documents against what is left now; the newest get first call on it."""
    fitted: dict[int, DocumentContext] = {}
    used = 0
    for index in reversed(range(len(turns))):
        if turns[index].documents:
            fitted[index] = build_context(turns[index].documents, turns[index].content, count_tokens,
                                          max(0, room - used), dense=dense)
            used += fitted[index].tokens
    return fitted
