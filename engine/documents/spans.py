"""Paragraph spans: where each stretch of a text document starts and ends, by line.

Spans are built by jumping with C-level searches rather than splitting the text into
lines, and neighbouring paragraphs shorter than ``MIN_SPAN_CHARS`` share one span: a
file of millions of one-letter paragraphs stays a few thousand spans, not millions.
"""

from __future__ import annotations

import re
import threading

from engine.documents.model import Span, check_cancel

MIN_SPAN_CHARS = 200  # well under a retrieval chunk (~300 tokens), so chunking is unaffected
_CANCEL_EVERY = 4096  # spans between cancel checks
_NON_SPACE = re.compile(r"\S")
# A newline whose following line is blank: the end of a paragraph.
_PARAGRAPH_END = re.compile(r"\n[^\S\n]*(?=\n|\Z)")


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def paragraph_spans(
    text: str, min_chars: int = MIN_SPAN_CHARS, cancel: threading.Event | None = None, name: str = ""
) -> tuple[Span, ...]:
    """Spans over runs of non-blank lines, numbered by line (1-based).

    A span ends at the first paragraph end at least ``min_chars`` past its start, so
    short paragraphs are merged with the ones after them; ``min_chars=0`` gives one
    span per paragraph.
    """
    spans: list[Span] = []
    pos, line = 0, 1  # pos is always at a line start; line is its number
    while (found := _NON_SPACE.search(text, pos)) is not None:
        newline = text.rfind("\n", pos, found.start())
        start = pos if newline < 0 else newline + 1
        first = line + text.count("\n", pos, start)
        stop = _PARAGRAPH_END.search(text, max(found.start(), start + min_chars))
        cut = stop.start() if stop else len(text)
        # From inside a blank stretch, step back to the end of the last non-blank line.
        last_char = start + len(text[start:cut].rstrip()) - 1
        end = text.find("\n", last_char)
        end = len(text) if end < 0 else end
        last = first + text.count("\n", start, end)
        spans.append(Span(start, end, first, last))
        pos, line = min(end + 1, len(text)), last + 1
        if end >= len(text):
            break
        if len(spans) % _CANCEL_EVERY == 0:
            check_cancel(cancel, name)
    return tuple(spans)


def line_spans(lines: list[str], min_chars: int = MIN_SPAN_CHARS) -> tuple[Span, ...]:
    """Spans over ``"\\n".join(lines)``, line numbers from 1 (DOCX paragraphs), short lines merged."""
    spans: list[Span] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        end = offset + len(line)
        if spans and spans[-1].end - spans[-1].start < min_chars:
            spans[-1] = Span(spans[-1].start, end, spans[-1].first, number)
        else:
            spans.append(Span(offset, end, number, number))
        offset = end + 1
    return tuple(spans)
