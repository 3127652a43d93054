"""What extraction produces: a ``Document`` whose ``Span``s locate every offset of its text."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DocumentKind = Literal["text", "markdown", "code", "csv", "json", "html", "pdf", "docx"]
ProgressFn = Callable[[int, int], None]


class ExtractionCancelled(Exception):
    """The caller set ``cancel``. Not an error to show; the drop was simply abandoned."""


def check_cancel(cancel: threading.Event | None, name: str) -> None:
    """Raise ``ExtractionCancelled`` if ``cancel`` is set; readers call it at bounded intervals."""
    if cancel is not None and cancel.is_set():
        raise ExtractionCancelled(name)


@dataclass(frozen=True)
class Span:
    """Where a stretch of ``Document.text`` came from.

    For a PDF, one span per page (``first == last`` == page number). For every other
    kind, one span per paragraph, with ``first``/``last`` the 1-based line numbers
    (for DOCX, paragraph numbers: each Word paragraph or table row is one line).
    Neighbouring paragraphs shorter than ``MIN_SPAN_CHARS`` share a span, so a file of
    millions of one-letter paragraphs does not become millions of spans.
    """

    start: int  # offset into Document.text
    end: int
    first: int
    last: int


@dataclass(frozen=True)
class Document:
    """A file turned into text.

    Attributes:
        name: File name shown to the user and used in citations.
        path: Absolute path it was read from.
        kind: What it was read as.
        text: The extracted text, newlines normalised to ``\\n``.
        pages: Spans that locate any offset of ``text`` (see ``Span``).
        char_count: ``len(text)``.
        encoding: The text encoding it was decoded with ("" for PDF and DOCX).
        note: Something the user should know about how it was read (a guessed
            encoding, replaced bytes), or "".
    """

    name: str
    path: Path
    kind: DocumentKind
    text: str
    pages: tuple[Span, ...]
    char_count: int
    encoding: str = ""
    note: str = ""

    @property
    def unit(self) -> Literal["page", "paragraph", "line"]:
        """What ``Span.first``/``last`` count in this document."""
        return "page" if self.kind == "pdf" else "paragraph" if self.kind == "docx" else "line"
