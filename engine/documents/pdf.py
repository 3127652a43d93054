"""PDF through pypdf, one span per page, cancellable between pages."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.core.errors import DocumentError
from engine.documents.kinds import damaged
from engine.documents.model import ProgressFn, Span, check_cancel
from engine.documents.spans import normalise_newlines


def read_pdf(file: Path, progress: ProgressFn | None, cancel: threading.Event | None) -> tuple[str, tuple[Span, ...]]:
    from pypdf import PdfReader  # deferred: text files should not pay for importing pypdf
    from pypdf.errors import DependencyError, PyPdfError

    try:
        reader = PdfReader(file)
        if reader.is_encrypted and not reader.decrypt(""):  # owner-only passwords open with ""
            raise DocumentError(
                f"{file.name} is password-protected. Open it in a PDF viewer, "
                "print or export it without a password, and drop that copy."
            )
        pages = reader.pages
        total = len(pages)
    except DependencyError:
        raise DocumentError(
            f"{file.name} is encrypted in a way Hearth can't open. Save an unencrypted copy and drop that."
        ) from None
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError):
        raise damaged(file.name, "PDF") from None
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    if progress:
        progress(0, total)
    for number in range(1, total + 1):
        check_cancel(cancel, file.name)
        page_text = _page_text(pages, number - 1)
        spans.append(Span(offset, offset + len(page_text), number, number))
        parts.append(page_text)
        offset += len(page_text) + 2  # the blank line joining pages
        if progress:
            progress(number, total)
    return "\n\n".join(parts), tuple(spans)


def _page_text(pages: object, index: int) -> str:
    """One page's text; a page pypdf chokes on counts as empty rather than sinking the file."""
    try:
        text = pages[index].extract_text() or ""  # type: ignore[index]
    except Exception:  # pypdf raises many kinds on damaged content streams
        return ""
    return normalise_newlines(text).replace("\x00", "").strip("\n")
