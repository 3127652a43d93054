"""Documents dropped on the chat, turned into text that remembers where it came from.

``extract`` reads one file into a ``Document``. Text-like files are decoded directly;
PDF goes through pypdf and DOCX through python-docx. Anything a person can fix
(missing file, wrong type, password, scan without text, damage) is a ``DocumentError``.
Fitting documents into the prompt is ``engine.documents.retrieval``'s job.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from engine.documents.encoding import decode
from engine.documents.html_text import html_to_text
from engine.documents.kinds import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_TYPES,
    check_exists,
    check_size,
    extensions_by_kind,
    kind_of,
    no_text_message,
)
from engine.core.errors import DocumentError
from engine.documents.model import Document, DocumentKind, ExtractionCancelled, ProgressFn, Span, check_cancel
from engine.documents.pdf import read_pdf
from engine.documents.spans import paragraph_spans
from engine.documents.word import read_docx

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_TYPES",
    "Document",
    "DocumentKind",
    "ExtractionCancelled",
    "ProgressFn",
    "Span",
    "extensions_by_kind",
    "extract",
    "html_to_text",
    "paragraph_spans",
]


def extract(
    path: str | os.PathLike[str],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Document:
    """Read one dropped file into a ``Document``. Blocking: call it off the GUI thread.

    Args:
        path: The file.
        progress: Called with ``(done, total)``: per page for PDF, once at the end otherwise.
        cancel: Checked before reading and at bounded intervals while reading (pages,
            paragraphs, parser input, unzipping); when set, ``ExtractionCancelled`` is raised.
        max_bytes: Larger files are refused before reading.

    Raises:
        DocumentError: The file cannot be turned into text; the message says why and what to do.
        ExtractionCancelled: ``cancel`` was set.
    """
    file = Path(path).expanduser().absolute()
    check_cancel(cancel, file.name)
    check_exists(file)
    kind = kind_of(file)
    check_size(file, max_bytes)
    encoding = note = ""
    if kind == "pdf":
        text, pages = read_pdf(file, progress, cancel)
    elif kind == "docx":
        text, pages = read_docx(file, cancel)
    else:
        decoded = decode(file.read_bytes(), file.name)
        text, encoding, note = decoded.text, decoded.encoding, decoded.note
        if kind == "html":
            text = html_to_text(text, cancel, file.name)
        pages = paragraph_spans(text, cancel=cancel, name=file.name)
    if not text.strip():
        raise DocumentError(no_text_message(file.name, kind))
    if kind != "pdf" and progress:
        progress(1, 1)
    return Document(file.name, file, kind, text, pages, len(text), encoding, note)
