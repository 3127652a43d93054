"""Paragraph spans: where each stretch of a text document starts and ends, by line."""

from __future__ import annotations

from engine.documents.model import Span


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def paragraph_spans(text: str) -> tuple[Span, ...]:
    """One span per run of non-blank lines, numbered by line (1-based)."""
    spans: list[Span] = []
    first = start = last = last_end = 0
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not first:
                first, start = number, offset
            last, last_end = number, offset + len(line)
        elif first:
            spans.append(Span(start, last_end, first, last))
            first = 0
        offset += len(line) + 1
    if first:
        spans.append(Span(start, last_end, first, last))
    return tuple(spans)


def line_spans(lines: list[str]) -> tuple[Span, ...]:
    """One span per line of ``"\\n".join(lines)``, numbered from 1 (DOCX paragraphs)."""
    spans: list[Span] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        spans.append(Span(offset, offset + len(line), number, number))
        offset += len(line) + 1
    return tuple(spans)
