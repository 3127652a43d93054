"""Documents dropped on the chat, turned into text that remembers where it came from.

``extract`` reads one file into a ``Document``. Text-like files are decoded directly;
PDF goes through pypdf and DOCX through python-docx. Anything a person can fix
(missing file, wrong type, password, scan without text, damage) is a ``DocumentError``.
Fitting documents into the prompt is ``engine.retrieval``'s job.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

from engine.errors import DocumentError

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

DocumentKind = Literal["text", "markdown", "code", "csv", "json", "html", "pdf", "docx"]
ProgressFn = Callable[[int, int], None]

_TEXT_EXTENSIONS: dict[str, DocumentKind] = {
    **dict.fromkeys([".txt", ".text", ".log", ".rst", ".tex", ".srt", ".vtt"], "text"),
    **dict.fromkeys([".md", ".markdown", ".mdown", ".mkd"], "markdown"),
    **dict.fromkeys([".csv", ".tsv"], "csv"),
    **dict.fromkeys([".json", ".jsonl", ".ndjson", ".ipynb"], "json"),
    **dict.fromkeys([".html", ".htm", ".xhtml"], "html"),
    **dict.fromkeys(
        ".py .pyi .js .mjs .cjs .jsx .ts .tsx .java .c .cpp .cc .cxx .h .hpp .hh .cs .go .rs .rb .php"
        " .swift .kt .kts .scala .m .mm .r .jl .lua .pl .dart .hs .ex .exs .erl .clj .fs .vb .zig .nim"
        " .sh .bash .zsh .fish .ps1 .bat .cmd .sql .yaml .yml .toml .ini .cfg .conf .env .properties"
        " .xml .css .scss .less .vue .svelte .gradle .cmake .mk .proto .graphql .tf .dockerfile".split(),
        "code",
    ),
}
# Files people drop that have no extension but are plainly text.
_TEXT_NAMES = {"readme", "license", "copying", "authors", "changelog", "makefile", "dockerfile", "notice"}
_HINTS = {
    ".doc": "Open it in Word or LibreOffice and save it as .docx.",
    ".rtf": "Open it in a word processor and save it as .docx or .txt.",
    ".odt": "Open it in LibreOffice and save it as .docx.",
    ".pages": "Export it from Pages as Word (.docx) or PDF.",
    ".xlsx": "Save the sheet as CSV.",
    ".xls": "Save the sheet as CSV.",
    ".pptx": "Export the slides as PDF.",
}
SUPPORTED_TYPES = "PDF, Word (.docx), plain text, Markdown, HTML, CSV, JSON and source code (.py, .js, .java, .c, ...)"


class ExtractionCancelled(Exception):
    """The caller set ``cancel``. Not an error to show; the drop was simply abandoned."""


@dataclass(frozen=True)
class Span:
    """Where a stretch of ``Document.text`` came from.

    For a PDF, one span per page (``first == last`` == page number). For every other
    kind, one span per paragraph, with ``first``/``last`` the 1-based line numbers
    (for DOCX, paragraph numbers: each Word paragraph or table row is one line).
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
    """

    name: str
    path: Path
    kind: DocumentKind
    text: str
    pages: tuple[Span, ...]
    char_count: int

    @property
    def unit(self) -> Literal["page", "paragraph", "line"]:
        """What ``Span.first``/``last`` count in this document."""
        return "page" if self.kind == "pdf" else "paragraph" if self.kind == "docx" else "line"


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
        cancel: Checked before reading and between PDF pages; when set,
            ``ExtractionCancelled`` is raised.
        max_bytes: Larger files are refused before reading.

    Raises:
        DocumentError: The file cannot be turned into text; the message says why and what to do.
        ExtractionCancelled: ``cancel`` was set.
    """
    file = Path(path).expanduser().absolute()
    if cancel is not None and cancel.is_set():
        raise ExtractionCancelled(file.name)
    _check_exists(file)
    kind = _kind_of(file)
    _check_size(file, max_bytes)
    if kind == "pdf":
        text, pages = _read_pdf(file, progress, cancel)
    elif kind == "docx":
        text, pages = _read_docx(file)
    else:
        text = _decode(file.read_bytes(), file.name)
        if kind == "html":
            text = html_to_text(text)
        pages = paragraph_spans(text)
    if not text.strip():
        raise DocumentError(_no_text_message(file.name, kind))
    if kind != "pdf" and progress:
        progress(1, 1)
    return Document(file.name, file, kind, text, pages, len(text))


def _kind_of(file: Path) -> DocumentKind:
    suffix = file.suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".docx":
        return "docx"
    if suffix in _TEXT_EXTENSIONS:
        return _TEXT_EXTENSIONS[suffix]
    if not suffix and file.name.lower() in _TEXT_NAMES:
        return "text"
    what = f"{suffix} files" if suffix else f"files without an extension like {file.name}"
    hint = _HINTS.get(suffix)
    raise DocumentError(" ".join(filter(None, [f"Hearth can't read {what}.", hint, f"Supported: {SUPPORTED_TYPES}."])))


def _check_exists(file: Path) -> None:
    if not file.exists():
        raise DocumentError(f"{file.name} was not found in {file.parent}. It may have been moved or deleted.")
    if not file.is_file():
        raise DocumentError(f"{file.name} is a folder, not a document. Drop the files inside it instead.")


def _check_size(file: Path, max_bytes: int) -> None:
    size = file.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"{file.name} is {_megabytes(size)}; Hearth reads documents up to {_megabytes(max_bytes)}. "
            "Split it, or copy the part you need into a smaller file."
        )
    if size == 0:
        raise DocumentError(f"{file.name} is empty.")


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KB"


def _no_text_message(name: str, kind: DocumentKind) -> str:
    if kind == "pdf":
        return (
            f"{name} has no text we can read; scanned PDFs need OCR. "
            "Run it through an OCR tool (for example ocrmypdf) and drop the result."
        )
    if kind == "docx":
        return f"{name} has no text we can read (it may hold only images)."
    return f"{name} is empty."


# --- plain text -----------------------------------------------------------------

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),  # before utf-16: its BOM starts the same way
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SNIFF_CHARS = 1 << 20  # a megabyte of text is plenty to tell text from binary


def _decode(data: bytes, name: str) -> str:
    """Bytes to text: BOM, then UTF-8, then Windows-1252/Latin-1 if it still looks like text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _normalise(data.decode(encoding))
            except UnicodeDecodeError:
                raise _binary_error(name) from None
    if b"\x00" in data:  # UTF-16 without a BOM is rare enough to call binary
        raise _binary_error(name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 is what Windows editors write; Latin-1 decodes anything, so guard it.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    sample = text[:_SNIFF_CHARS]
    if sample and len(_CONTROL.findall(sample)) / len(sample) > 0.01:
        raise _binary_error(name)
    return _normalise(text)


def _binary_error(name: str) -> DocumentError:
    return DocumentError(
        f"{name} looks like a binary file, not text, even though its name says otherwise. "
        "Check that it is the file you meant to drop."
    )


def _normalise(text: str) -> str:
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


# --- HTML -----------------------------------------------------------------------

_SKIP_TAGS = {"script", "style", "noscript", "template", "svg"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "nav", "aside", "main", "pre", "blockquote", "hr", "figure",
    "figcaption", "title", "form", "details", "summary",
}  # fmt: skip


class _TextCollector(HTMLParser):
    """Keeps visible text; block elements become line breaks, cells become tabs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS and tag != "br":  # <br> breaks once, not twice
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page: no tags, scripts or styles; paragraphs on their own lines."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(collector.parts).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# --- PDF ------------------------------------------------------------------------


def _read_pdf(file: Path, progress: ProgressFn | None, cancel: threading.Event | None) -> tuple[str, tuple[Span, ...]]:
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
        raise _damaged(file.name, "PDF") from None
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    if progress:
        progress(0, total)
    for number in range(1, total + 1):
        if cancel is not None and cancel.is_set():
            raise ExtractionCancelled(file.name)
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
    return _normalise(text).replace("\x00", "").strip("\n")


def _damaged(name: str, what: str) -> DocumentError:
    return DocumentError(
        f"{name} is damaged or is not really a {what} file. Try opening it in another program and saving a new copy."
    )


# --- DOCX -----------------------------------------------------------------------


def _read_docx(file: Path) -> tuple[str, tuple[Span, ...]]:
    import docx  # deferred like pypdf

    with file.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"\xd0\xcf\x11\xe0":  # OLE container: Word's encryption or an old .doc renamed
        raise DocumentError(
            f"{file.name} is password-protected or is an old Word file renamed to .docx. "
            "Open it in Word, remove the password, and save it as .docx."
        )
    try:
        document = docx.Document(str(file))
        lines = list(_docx_lines(document))
    except Exception:  # PackageNotFoundError, BadZipFile, lxml and KeyError all mean "damaged"
        raise _damaged(file.name, "Word (.docx)") from None
    text = "\n".join(lines)
    spans: list[Span] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        spans.append(Span(offset, offset + len(line), number, number))
        offset += len(line) + 1
    return text, tuple(spans)


def _docx_lines(document: object) -> list[str]:
    """Non-empty paragraphs and table rows in reading order, one per line."""
    from docx.table import Table

    lines: list[str] = []
    for block in document.iter_inner_content():  # type: ignore[attr-defined]
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
