"""Fitting dropped documents into the prompt: whole when they fit, best chunks when not.

``build_context`` counts tokens with whatever callable it is given (the model's own
tokenizer in the app), so the budget holds for the model that will read the text.
When the documents are too long, they are cut into ~300-token chunks on paragraph and
line boundaries, ranked against the question with BM25, and the best ones that fit go
in, in document order, each cited by file and page or line range. Each excerpt (or whole
document) is also returned as a ``Source`` with its exact text, for the reply's citations.

Given a ``dense`` scorer (``engine.documents.dense``: the installed sentence embedder),
the chunks are cut at its size and ranked by reciprocal-rank fusion of BM25 and the
embedder's cosines (``engine.documents.fusion.hybrid_scores``). Without one, or when it
answers None (the embedder failed), BM25 ranks alone.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.documents.fusion import hybrid_scores
from engine.documents.model import Document
from engine.documents.sources import Source, whole_source, where
from engine.documents.spans import paragraph_spans

TokenCounter = Callable[[str], int]
ChunkKey = tuple[str, int, int]  # document name, start and end offsets in its text
CHUNK_TOKENS = 300
EXCERPTS_INTRO = "Excerpts from the attached documents, the parts most relevant to the question:"
_WORD = re.compile(r"\w+")


class DenseScores(Protocol):
    """Cosines of chunks to a question (``engine.documents.dense.DenseScorer``)."""

    chunk_tokens: int

    def scores(self, docs: Sequence[Document], chunks: Sequence[Sequence[Chunk]],
               question: str) -> list[float] | None: ...


@dataclass(frozen=True)
class Chunk:
    """A slice of one document, located by page, paragraph or line."""

    name: str
    unit: str  # "page", "paragraph" or "line"
    start: int  # offsets into Document.text
    end: int
    first: int
    last: int
    text: str
    tokens: int  # of ``rendered``, citation included

    @property
    def citation(self) -> str:
        """``[report.pdf, p. 3]``, ``[notes.md, lines 10-42]``, ``[memo.docx, paras. 2-5]``."""
        return _citation(self.name, self.unit, self.first, self.last)

    @property
    def rendered(self) -> str:
        return f"{self.citation}\n{self.text}"

    @property
    def source(self) -> Source:
        return Source(self.name, self.unit, self.first, self.last, self.text)


@dataclass(frozen=True)
class DocumentContext:
    """What goes before the user's question.

    Attributes:
        text: The block to put before the question ("" when there is nothing).
        fits_whole: True if every document went in whole.
        tokens: ``count_tokens(text)``; never more than the budget.
        omitted: One line per document not fully included, e.g.
            ``"report.pdf: pages 4-9 not included"``.
        citations: The citation of each included excerpt, in order (neighbouring
            chunks are joined into one excerpt); empty when whole.
        sources: Each included excerpt with its text, in order (one per citation);
            when whole, one per document.
        included: The key of each chunk put in; empty when whole.
    """

    text: str
    fits_whole: bool
    tokens: int
    omitted: tuple[str, ...]
    citations: tuple[str, ...]
    sources: tuple[Source, ...] = ()
    included: frozenset[ChunkKey] = frozenset()


def build_context(
    docs: Sequence[Document],
    question: str,
    count_tokens: TokenCounter,
    budget_tokens: int,
    chunk_tokens: int = CHUNK_TOKENS,
    dense: DenseScores | None = None,
    already_in: frozenset[ChunkKey] | None = None,
) -> DocumentContext:
    """Put the documents in whole if they fit ``budget_tokens``, else their most relevant chunks.

    Args:
        docs: Extracted documents, in the order the user dropped them.
        question: The user's message; chunks are ranked against it.
        count_tokens: Tokens in a string, ideally the model's own tokenizer.
        budget_tokens: The most tokens ``DocumentContext.text`` may take.
        chunk_tokens: Target chunk size when retrieving (the scorer's, if smaller).
        dense: Ranks chunks by meaning beside BM25; None for BM25 alone.
        already_in: For a follow-up question: chunks an earlier turn already carries. Only
            chunks outside it are chosen, and never the whole documents.
    """
    if budget_tokens < 0 or chunk_tokens <= 0:
        raise ValueError(f"budget_tokens must be >= 0 and chunk_tokens > 0, got {budget_tokens}, {chunk_tokens}")
    if not docs:
        return DocumentContext("", True, 0, (), ())
    whole = "\n\n".join(_whole(doc) for doc in docs)
    # Counting a long text is slow with a real tokenizer; skip it when clearly hopeless.
    if already_in is None and len(whole) * tokens_per_char(whole, count_tokens) <= 2 * budget_tokens:
        whole_tokens = count_tokens(whole)
        if whole_tokens <= budget_tokens:
            sources = tuple(whole_source(doc, _body(doc)) for doc in docs)
            return DocumentContext(whole, True, whole_tokens, (), (), sources)
    chunk_tokens = retrieval_chunk_tokens(dense, chunk_tokens)
    per_doc = [chunk_document(doc, count_tokens, chunk_tokens) for doc in docs]
    flat = [chunk for chunks in per_doc for chunk in chunks]
    owners = [n for n, chunks in enumerate(per_doc) for _ in chunks]
    scores = bm25_scores([chunk.text for chunk in flat], question)
    cosines = dense.scores(docs, per_doc, question) if dense is not None else None
    if cosines is not None:
        scores = hybrid_scores(scores, cosines)
    skip = {i for i, c in enumerate(flat) if (c.name, c.start, c.end) in (already_in or ())}
    chosen, text, tokens, excerpts = _select(flat, owners, scores, count_tokens, budget_tokens, skip)
    omitted = tuple(line for doc, chunks in zip(docs, per_doc) if (line := _omitted_line(doc, chunks, chosen)))
    citations = tuple(e.citation for e in excerpts)
    included = frozenset((c.name, c.start, c.end) for c in flat if id(c) in chosen)
    return DocumentContext(text, False, tokens, omitted, citations, tuple(e.source for e in excerpts), included)


def _body(doc: Document) -> str:
    return doc.text.strip("\n")


def _whole(doc: Document) -> str:
    return f"--- {doc.name} ---\n{_body(doc)}"


# --- chunking -------------------------------------------------------------------


def retrieval_chunk_tokens(dense: DenseScores | None, chunk_tokens: int = CHUNK_TOKENS) -> int:
    """The chunk size retrieval cuts at: ``chunk_tokens``, or the scorer's if smaller."""
    return chunk_tokens if dense is None else min(chunk_tokens, dense.chunk_tokens)


def chunk_document(doc: Document, count_tokens: TokenCounter, chunk_tokens: int = CHUNK_TOKENS) -> list[Chunk]:
    """Cut a document into chunks of about ``chunk_tokens`` on paragraph, then line, boundaries."""
    # Paragraphs are packed on an estimate so the tokenizer runs about once over the
    # text (per chunk), not once per paragraph; each chunk is then counted exactly.
    per_char = tokens_per_char(doc.text, count_tokens)
    pieces: list[tuple[int, int, float]] = []
    for start, end in _blocks(doc):
        if (end - start) * per_char <= chunk_tokens:
            pieces.append((start, end, (end - start) * per_char))
        else:
            pieces.extend(_split(doc.text, start, end, chunk_tokens, count_tokens))
    locate = _locator(doc)
    chunks: list[Chunk] = []
    for start, end in _pack(pieces, chunk_tokens):
        chunk = _make_chunk(doc, start, end, locate, count_tokens)
        if chunk.tokens <= 2 * chunk_tokens:
            chunks.append(chunk)
            continue
        # The estimate was far off here (say, a table of numbers after prose): cut by real counts.
        for a, b in _pack(_split(doc.text, start, end, chunk_tokens, count_tokens), chunk_tokens):
            chunks.append(_make_chunk(doc, a, b, locate, count_tokens))
    return chunks


def tokens_per_char(text: str, count_tokens: TokenCounter, sample: int = 3000) -> float:
    """Tokens per character, measured on the start, middle and end of ``text``."""
    if len(text) <= 3 * sample:
        probe = text
    else:
        middle = len(text) // 2
        probe = "\n".join((text[:sample], text[middle : middle + sample], text[-sample:]))
    return count_tokens(probe) / max(1, len(probe))


def _make_chunk(doc: Document, start: int, end: int, locate: Callable[[int], int], count: TokenCounter) -> Chunk:
    first, last = locate(start), locate(end - 1)
    text = doc.text[start:end]
    tokens = count(f"{_citation(doc.name, doc.unit, first, last)}\n{text}")
    return Chunk(doc.name, doc.unit, start, end, first, last, text, tokens)


def _blocks(doc: Document) -> list[tuple[int, int]]:
    """Paragraph spans; a PDF page is split into its own paragraphs."""
    if doc.unit != "page":
        return [(span.start, span.end) for span in doc.pages]
    blocks: list[tuple[int, int]] = []
    for page in doc.pages:
        inner = paragraph_spans(doc.text[page.start : page.end])
        blocks.extend((page.start + span.start, page.start + span.end) for span in inner)
    return blocks


def _split(text: str, start: int, end: int, limit: int, count: TokenCounter) -> list[tuple[int, int, float]]:
    """``(start, end, tokens)`` pieces of at most ``limit`` tokens, cut at lines, then spaces."""
    tokens = count(text[start:end])
    if tokens <= limit or end - start < 2:
        return [(start, end, tokens)]
    middle = (start + end) // 2
    cut = _cut_point(text, start, end, middle)
    left_end, right_start = (cut, cut + 1) if text[cut].isspace() else (cut, cut)
    return _split(text, start, left_end, limit, count) + _split(text, right_start, end, limit, count)


def _cut_point(text: str, start: int, end: int, middle: int) -> int:
    """The newline nearest ``middle``, else the nearest space, else ``middle`` itself."""
    for separator in ("\n", " "):
        before, after = text.rfind(separator, start + 1, middle + 1), text.find(separator, middle, end - 1)
        candidates = [i for i in (before, after) if i > start]
        if candidates:
            return min(candidates, key=lambda i: abs(i - middle))
    return middle


def _pack(pieces: list[tuple[int, int, float]], limit: int) -> list[tuple[int, int]]:
    """Join neighbouring pieces while their summed tokens stay within ``limit``."""
    packed: list[tuple[int, int]] = []
    total = 0.0
    for start, end, tokens in pieces:
        if packed and total + tokens <= limit:
            packed[-1] = (packed[-1][0], end)
            total += tokens
        else:
            packed.append((start, end))
            total = tokens
    return packed


def _locator(doc: Document) -> Callable[[int], int]:
    """Offset to page number (PDF) or line/paragraph number (everything else)."""
    if doc.unit == "page":
        starts = [span.start for span in doc.pages]
        numbers = [span.first for span in doc.pages]
        return lambda offset: numbers[max(0, bisect_right(starts, offset) - 1)]
    # Count lines from the nearest span start: a list of every line start would hold
    # millions of ints for a file of millions of short lines.
    starts = [span.start for span in doc.pages]
    firsts = [span.first for span in doc.pages]

    def locate(offset: int) -> int:
        index = bisect_right(starts, offset) - 1
        if index < 0:
            return doc.text.count("\n", 0, offset) + 1
        return firsts[index] + doc.text.count("\n", starts[index], offset)

    return locate


# --- ranking and selection ------------------------------------------------------


def bm25_scores(texts: Sequence[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 of each text against ``query`` over lowercase word tokens."""
    terms = set(_WORD.findall(query.lower()))
    bags = [Counter(_WORD.findall(text.lower())) for text in texts]
    if not terms or not bags:
        return [0.0] * len(texts)
    lengths = [sum(bag.values()) for bag in bags]
    average = (sum(lengths) / len(lengths)) or 1.0
    df = {term: sum(1 for bag in bags if term in bag) for term in terms}
    idf = {term: math.log(1 + (len(bags) - n + 0.5) / (n + 0.5)) for term, n in df.items() if n}
    scores = []
    for bag, length in zip(bags, lengths):
        norm = k1 * (1 - b + b * length / average)
        scores.append(sum(idf[t] * bag[t] * (k1 + 1) / (bag[t] + norm) for t in idf if t in bag))
    return scores


def _select(
    chunks: list[Chunk], owners: list[int], scores: list[float], count: TokenCounter, budget: int, skip: set[int]
) -> tuple[set[int], str, int, list[Chunk]]:
    """Best-scoring chunks that fit, rendered in document order; ties go to earlier chunks; never ``skip``.

    Chunks that share no word with the question are left out when any chunk does.

    Returns the ids of the chosen chunks, the rendered text, its tokens and its excerpts.
    """
    ranked = sorted((i for i in range(len(chunks)) if i not in skip), key=lambda i: (-scores[i], i))
    if any(scores):
        # Unrelated chunks would only lengthen prefill; without any match ("summarise
        # this"), the start of each document is the best guess, so keep them then.
        ranked = [i for i in ranked if scores[i] > 0]
    used = count(EXCERPTS_INTRO)
    picked: list[int] = []
    for i in ranked:
        if used + chunks[i].tokens <= budget:
            picked.append(i)
            used += chunks[i].tokens
    while picked:
        excerpts = _excerpts(chunks, owners, sorted(picked))
        text = EXCERPTS_INTRO + "\n\n" + "\n\n".join(excerpt.rendered for excerpt in excerpts)
        # Token counts are not quite additive across joins, so check the real total.
        tokens = count(text)
        if tokens <= budget:
            return {id(chunks[i]) for i in picked}, text, tokens, excerpts
        picked.pop()  # the lowest-ranked one
    return set(), "", 0, []


def _excerpts(chunks: list[Chunk], owners: list[int], picked: list[int]) -> list[Chunk]:
    """Neighbouring chosen chunks of one document joined, so each excerpt is cited once."""
    excerpts: list[Chunk] = []
    previous = -2
    for i in picked:
        chunk = chunks[i]
        prev = excerpts[-1] if excerpts else None
        if prev is not None and previous == i - 1 and owners[i - 1] == owners[i]:
            text = f"{prev.text}\n{chunk.text}"
            chunk = Chunk(chunk.name, chunk.unit, prev.start, chunk.end, prev.first, chunk.last, text, 0)
            excerpts[-1] = chunk
        else:
            excerpts.append(chunk)
        previous = i
    return excerpts


# --- what was left out ----------------------------------------------------------


def _omitted_line(doc: Document, chunks: list[Chunk], chosen: set[int]) -> str:
    """``"report.pdf: pages 4-9 not included; p. 3 only in part"``, or "" if all of it went in."""
    if not any(id(chunk) in chosen for chunk in chunks):
        return f"{doc.name}: not included"
    runs = _coverage_runs(chunks, chosen, partition=doc.unit != "page")
    out = [(a, b) for a, b, state in runs if state == "out"]
    part = [(a, b) for a, b, state in runs if state == "part"]
    notes = []
    if out:
        notes.append(f"{_ranges(doc.unit, out)} not included")
    if part:
        notes.append(f"{_ranges(doc.unit, part)} only in part")
    return f"{doc.name}: {'; '.join(notes)}" if notes else ""


def _coverage_runs(chunks: list[Chunk], chosen: set[int], partition: bool) -> list[tuple[int, int, str]]:
    """Runs ``(first, last, "in" | "out" | "part")`` over the locations the chunks cover.

    Lines belong to one chunk each (the blank lines after a chunk are counted with it),
    while a page can be shared by neighbouring chunks and so be partly included.
    """
    runs: list[tuple[int, int, str]] = []
    for index, chunk in enumerate(chunks):
        last = chunk.last
        if partition and index + 1 < len(chunks):
            last = max(chunk.first, chunks[index + 1].first - 1)
        state = "in" if id(chunk) in chosen else "out"
        first = chunk.first
        if runs and first <= runs[-1][1]:  # shares a location with the previous chunk
            prev_first, prev_last, prev_state = runs.pop()
            if prev_first < first:
                runs.append((prev_first, first - 1, prev_state))
            runs.append((first, prev_last, prev_state if prev_state == state else "part"))
            first = prev_last + 1
        if first <= last:
            runs.append((first, last, state))
    return _merge_runs(runs)


def _merge_runs(runs: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    merged: list[tuple[int, int, str]] = []
    for first, last, state in runs:
        if merged and merged[-1][2] == state and merged[-1][1] + 1 >= first:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]), state)
        else:
            merged.append((first, last, state))
    return merged


def _ranges(unit: str, ranges: list[tuple[int, int]]) -> str:
    """``pages 4-9, 12`` or ``line 7``."""
    plural = len(ranges) > 1 or ranges[0][0] != ranges[0][1]
    items = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
    return f"{unit}{'s' if plural else ''} {items}"


def _citation(name: str, unit: str, first: int, last: int) -> str:
    """``[report.pdf, p. 3]``, ``[report.pdf, pp. 3-4]``, ``[notes.md, lines 10-42]``, ``[memo.docx, para. 2]``."""
    return f"[{name}, {where(unit, first, last)}]"
