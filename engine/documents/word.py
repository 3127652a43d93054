"""Word (.docx) through python-docx: paragraphs and table rows in reading order."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.core.errors import DocumentError
from engine.documents.kinds import damaged
from engine.documents.model import ExtractionCancelled, Span, check_cancel
from engine.documents.spans import line_spans
from engine.documents.zip_limits import check_zip

_CANCEL_EVERY = 1024  # paragraphs or tables between cancel checks


def read_docx(file: Path, cancel: threading.Event | None = None) -> tuple[str, tuple[Span, ...]]:
    import docx  # deferred like pypdf

    with file.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"\xd0\xcf\x11\xe0":  # OLE container: Word's encryption or an old .doc renamed
        raise DocumentError(
            f"{file.name} is password-protected or is an old Word file renamed to .docx. "
            "Open it in Word, remove the password, and save it as .docx."
        )
    check_zip(file, cancel)  # before python-docx inflates and parses anything
    try:
        document = docx.Document(str(file))
        lines = _docx_lines(document, cancel, file.name)
    except ExtractionCancelled:
        raise
    except Exception:  # PackageNotFoundError, BadZipFile, lxml and KeyError all mean "damaged"
        raise damaged(file.name, "Word (.docx)") from None
    return "\n".join(lines), line_spans(lines)


def _docx_lines(document: object, cancel: threading.Event | None, name: str) -> list[str]:
    """Non-empty paragraphs and table rows in reading order, one per line."""
    from docx.table import Table

    lines: list[str] = []
    for count, block in enumerate(document.iter_inner_content()):  # type: ignore[attr-defined]
        if count % _CANCEL_EVERY == 0:
            check_cancel(cancel, name)
        if isinstance(block, Table):
            lines.extend(_table_rows(block))
        else:
            text = " ".join(block.text.split())
            if text:
                lines.append(text)
    return lines


def _table_rows(table: object) -> list[str]:
    rows: list[str] = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or text != cells[-1]:  # merged cells repeat themselves
                cells.append(text)
        if any(cells):
            rows.append(" | ".join(cells))
    return rows
