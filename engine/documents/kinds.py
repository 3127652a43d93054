"""Which files Hearth reads, and the checks and messages shared by every reader."""

from __future__ import annotations

from pathlib import Path

from engine.core.errors import DocumentError
from engine.documents.model import DocumentKind

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

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


def extensions_by_kind() -> dict[DocumentKind, tuple[str, ...]]:
    """The file extensions Hearth reads, grouped by kind (for file dialogs' filters)."""
    found: dict[DocumentKind, list[str]] = {"pdf": [".pdf"], "docx": [".docx"]}
    for suffix, kind in _TEXT_EXTENSIONS.items():
        found.setdefault(kind, []).append(suffix)
    return {kind: tuple(suffixes) for kind, suffixes in found.items()}


SUPPORTED_TYPES = "PDF, Word (.docx), plain text, Markdown, HTML, CSV, JSON and source code (.py, .js, .java, .c, ...)"


def kind_of(file: Path) -> DocumentKind:
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


def check_exists(file: Path) -> None:
    if not file.exists():
        raise DocumentError(f"{file.name} was not found in {file.parent}. It may have been moved or deleted.")
    if not file.is_file():
        raise DocumentError(f"{file.name} is a folder, not a document. Drop the files inside it instead.")


def check_size(file: Path, max_bytes: int) -> None:
    size = file.stat().st_size
    if size > max_bytes:
        raise DocumentError(
            f"{file.name} is {megabytes(size)}; Hearth reads documents up to {megabytes(max_bytes)}. "
            "Split it, or copy the part you need into a smaller file."
        )
    if size == 0:
        raise DocumentError(f"{file.name} is empty.")


def megabytes(size: int) -> str:
    # Binary units, like the app and hearth-cli (MiB everywhere).
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{max(1, round(size / 1024))} KiB"


def no_text_message(name: str, kind: DocumentKind) -> str:
    if kind == "pdf":
        return (
            f"{name} has no text we can read; scanned PDFs need OCR. "
            "Run it through an OCR tool (for example ocrmypdf) and drop the result."
        )
    if kind == "docx":
        return f"{name} has no text we can read (it may hold only images)."
    return f"{name} is empty."


def damaged(name: str, what: str) -> DocumentError:
    return DocumentError(
        f"{name} is damaged or is not really a {what} file. Try opening it in another program and saving a new copy."
    )
