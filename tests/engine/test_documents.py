"""Documents dropped on the chat: extraction from real files, and fitting them into a budget."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import docx
import pypdf
import pytest

from engine.core.errors import DocumentError
from engine.documents import DEFAULT_MAX_BYTES, Document, ExtractionCancelled, extract, paragraph_spans
from engine.documents.retrieval import EXCERPTS_INTRO, bm25_scores, build_context, chunk_document
from tests.helpers.make_pdf import build_pdf, write_pdf


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def filler(topic: str, lines: int) -> str:
    return "\n".join(f"{topic} note {i}: routine remarks about {topic} and nothing else." for i in range(lines))


# --- extraction: text-like files ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("notes.txt", "first line\nsecond line\n", "text"),
        ("README.md", "# Title\n\nSome *markdown* text.\n", "markdown"),
        ("script.py", "def add(a, b):\n    return a + b\n", "code"),
        ("Main.java", "class Main {}\n", "code"),
        ("config.yaml", "key: value\n", "code"),
        ("table.csv", "name,age\nAda,36\nAlan,41\n", "csv"),
        ("data.json", json.dumps({"city": "Oslo", "people": [1, 2]}, indent=2), "json"),
        ("Makefile", "all:\n\techo hi\n", "text"),
    ],
)
def test_text_like_files_are_read_as_is(tmp_path: Path, name: str, content: str, kind: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    doc = extract(path)
    assert (doc.name, doc.kind, doc.text, doc.char_count) == (name, kind, content, len(content))
    assert doc.path == path and doc.unit == "line"


def test_text_spans_are_paragraphs_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("a\nb\n\n\nc\r\nd\r\ne\n", encoding="utf-8")
    doc = extract(path)
    assert doc.text == "a\nb\n\n\nc\nd\ne\n"  # CRLF and CR normalised, line numbers kept
    # Paragraphs this short share one span (see MIN_SPAN_CHARS); unmerged, each is its own.
    assert [(s.first, s.last) for s in doc.pages] == [(1, 7)]
    spans = paragraph_spans(doc.text, min_chars=0)
    assert [(s.first, s.last) for s in spans] == [(1, 2), (5, 7)]
    assert [doc.text[s.start : s.end] for s in spans] == ["a\nb", "c\nd\ne"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("\ufeffcafé ☕\n".encode("utf-8"), "café ☕\n"),
        ("café ☕\n".encode("utf-16"), "café ☕\n"),  # Python writes a BOM
        ("naïve café — 10 €\n".encode("cp1252"), "naïve café — 10 €\n"),
        (b"r\xe9sum\xe9 " * 30 + b"\x81\n", "résumé " * 30 + "\x81\n"),  # 0x81 is not cp1252: Latin-1
    ],
)
def test_encodings_are_detected(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    assert extract(path).text == expected


def test_html_keeps_visible_text_only(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Quarterly</title><style>p { color: red }</style>"
        "<script>var secret = 'do not show';</script></head>"
        "<body><h1>Results &amp; plans</h1><p>Revenue   grew<br>by 4%.</p>"
        "<table><tr><td>Q1</td><td>10</td></tr></table><noscript>enable js</noscript></body></html>",
        encoding="utf-8",
    )
    text = extract(path).text
    assert "Quarterly" in text and "Results & plans" in text and "Revenue grew\nby 4%." in text
    assert "Q1 10" in text
    for hidden in ("secret", "color", "enable js", "<"):
        assert hidden not in text


# --- extraction: PDF and DOCX ----------------------------------------------------


def test_pdf_builder_round_trips_through_pypdf() -> None:
    reader = pypdf.PdfReader(io.BytesIO(build_pdf(["One (1)", "Two\nlines", "Three"])), strict=True)
    assert [page.extract_text() for page in reader.pages] == ["One (1)", "Two\nlines", "Three"]


def test_pdf_is_read_page_by_page_with_progress(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "report.pdf", ["Alpha page", "Beta page\nsecond line", "Gamma page"])
    calls: list[tuple[int, int]] = []
    doc = extract(path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert (doc.kind, doc.unit) == ("pdf", "page")
    assert [(s.first, doc.text[s.start : s.end]) for s in doc.pages] == [
        (1, "Alpha page"),
        (2, "Beta page\nsecond line"),
        (3, "Gamma page"),
    ]


def test_pdf_extraction_can_be_cancelled_between_pages(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "report.pdf", ["one", "two", "three"])
    cancel = threading.Event()
    seen: list[int] = []

    def on_progress(done: int, total: int) -> None:
        seen.append(done)
        if done == 1:
            cancel.set()

    with pytest.raises(ExtractionCancelled):
        extract(path, progress=on_progress, cancel=cancel)
    assert seen == [0, 1]
    with pytest.raises(ExtractionCancelled):  # already cancelled: nothing is read
        extract(path, progress=on_progress, cancel=cancel)
    assert seen == [0, 1]


def _encrypted_pdf(path: Path, user_password: str, owner_password: str | None) -> Path:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(build_pdf(["Top secret plans"]))))
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")  # RC4 needs no extra packages
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    path = _encrypted_pdf(tmp_path / "locked.pdf", "hunter2", None)
    with pytest.raises(DocumentError, match=r"locked\.pdf is password-protected"):
        extract(path)


def test_pdf_with_only_an_owner_password_opens(tmp_path: Path) -> None:
    path = _encrypted_pdf(tmp_path / "restricted.pdf", "", "owner")
    assert extract(path).text == "Top secret plans"


def test_scanned_pdf_without_text_layer_says_ocr(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", ["", "", ""])
    with pytest.raises(DocumentError, match="scan.pdf has no text we can read; scanned PDFs need OCR"):
        extract(path)


@pytest.mark.parametrize("data", [b"%PDF-1.4\nthis is not really a pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256))])
def test_corrupt_pdf_is_reported_as_damaged(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)
    with pytest.raises(DocumentError, match="broken.pdf is damaged or is not really a PDF"):
        extract(path)


def test_docx_paragraphs_and_tables_in_reading_order(tmp_path: Path) -> None:
    word = docx.Document()
    word.add_heading("Budget memo", level=1)
    word.add_paragraph("We spend too much on coffee.")
    word.add_paragraph("")
    table = word.add_table(rows=2, cols=2)
    for row, (item, cost) in enumerate([("Item", "Cost"), ("Coffee", "120")]):
        table.cell(row, 0).text, table.cell(row, 1).text = item, cost
    word.add_paragraph("Signed, the committee.")
    path = tmp_path / "memo.docx"
    word.save(str(path))
    doc = extract(path)
    assert doc.text == "Budget memo\nWe spend too much on coffee.\nItem | Cost\nCoffee | 120\nSigned, the committee."
    assert (doc.kind, doc.unit) == ("docx", "paragraph")
    # Short paragraphs share a span; it still counts Word paragraphs and table rows.
    assert [(s.start, s.end, s.first, s.last) for s in doc.pages] == [(0, len(doc.text), 1, 5)]


def test_corrupt_and_encrypted_docx(tmp_path: Path) -> None:
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DocumentError, match="broken.docx is damaged"):
        extract(broken)
    locked = tmp_path / "locked.docx"
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))  # OLE, as Word writes encrypted files
    with pytest.raises(DocumentError, match="locked.docx is password-protected"):
        extract(locked)


def test_docx_with_no_text(tmp_path: Path) -> None:
    path = tmp_path / "blank.docx"
    docx.Document().save(str(path))
    with pytest.raises(DocumentError, match="blank.docx has no text we can read"):
        extract(path)


# --- extraction: bad input ------------------------------------------------------


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"gone\.txt was not found in .*moved or deleted"):
        extract(tmp_path / "gone.txt")
    with pytest.raises(DocumentError, match=r"setup\.exe was not found"):
        extract(tmp_path / "setup.exe")
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(DocumentError, match="folder.txt is a folder"):
        extract(tmp_path / "folder.txt")


@pytest.mark.parametrize("name", ["setup.exe", "photo.png", "archive.zip"])
def test_unsupported_types_list_what_is_supported(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"MZ\x90\x00")
    with pytest.raises(DocumentError, match=r"can't read \.\w+ files\. Supported: PDF, Word \(\.docx\), plain text"):
        extract(path)


def test_old_word_files_get_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "old.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DocumentError, match=r"can't read \.doc files\. .*save it as \.docx"):
        extract(path)


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \n"])
def test_empty_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=r"^empty\.txt is empty\.$"):
        extract(path)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x01\x00\x01\x00\x00\xff\x00,binary" * 20,  # NUL bytes
        bytes(range(1, 32)) * 40 + b"some words",  # no NUL, but mostly control characters
    ],
)
def test_binary_file_with_text_extension_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with pytest.raises(DocumentError, match="notes.txt looks like a binary file"):
        extract(path)


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("x" * 5000)
    with pytest.raises(DocumentError, match=r"huge\.txt is 5 KiB; Hearth reads documents up to 4 KiB"):
        extract(path, max_bytes=4096)
    assert extract(path, max_bytes=5000).char_count == 5000
    assert DEFAULT_MAX_BYTES == 50 * 1024 * 1024


# --- budgeting and retrieval ----------------------------------------------------


@pytest.fixture
def report_and_notes(tmp_path: Path) -> list[Document]:
    pages = [filler(f"topic{n}", 40) for n in range(1, 10)]
    pages[2] += "\n\nThe launch code for the rocket is zebra-42."
    report = extract(write_pdf(tmp_path / "report.pdf", pages))
    notes_lines = filler("gardening", 60).split("\n")
    notes_lines[30:30] = ["", "The rocket launch is scheduled for Tuesday.", ""]
    (tmp_path / "notes.md").write_text("\n".join(notes_lines) + "\n", encoding="utf-8")
    return [report, extract(tmp_path / "notes.md")]


def test_documents_that_fit_go_in_whole_with_headers(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha text\n")
    (tmp_path / "b.md").write_text("beta text\n")
    docs = [extract(tmp_path / "a.txt"), extract(tmp_path / "b.md")]
    context = build_context(docs, "what is alpha?", words, budget_tokens=100)
    assert context.text == "--- a.txt ---\nalpha text\n\n--- b.md ---\nbeta text"
    assert (context.fits_whole, context.tokens, context.omitted, context.citations) == (True, 10, (), ())


def test_no_documents_give_an_empty_context() -> None:
    assert build_context([], "hi", words, 100).text == ""


def test_retrieval_picks_the_relevant_chunks_and_cites_them(report_and_notes: list[Document]) -> None:
    context = build_context(report_and_notes, "When is the rocket launch code used?", words, budget_tokens=400)
    assert not context.fits_whole
    assert context.tokens == words(context.text) <= 400
    assert context.text.startswith(EXCERPTS_INTRO)
    assert "zebra-42" in context.text and "scheduled for Tuesday" in context.text
    assert "[report.pdf, p. 3]" in context.citations
    cited = [re.fullmatch(r"\[notes\.md, lines? (\d+)(?:-(\d+))?\]", c) for c in context.citations]
    first, last = next((int(m[1]), int(m[2] or m[1])) for m in cited if m)
    assert first <= 32 <= last  # the Tuesday line is line 32 of notes.md
    for citation in context.citations:
        assert citation in context.text
    # Document order: the report's excerpt comes before the notes'.
    assert context.text.index("zebra-42") < context.text.index("scheduled for Tuesday")
    assert context.omitted[0].startswith("report.pdf: pages 1-2, 4-9 not included")
    assert context.omitted[1].startswith("notes.md: lines 1-")


def test_partly_included_pages_are_reported(tmp_path: Path) -> None:
    page = filler("weather", 60) + "\n\nThe umbrella is in the hall."
    doc = extract(write_pdf(tmp_path / "long.pdf", [filler("intro", 5), page]))
    context = build_context([doc], "where is the umbrella", words, budget_tokens=120, chunk_tokens=50)
    assert context.citations == ("[long.pdf, p. 2]",) and "umbrella is in the hall" in context.text
    assert context.omitted == ("long.pdf: page 1 not included; page 2 only in part",)


def test_without_any_match_documents_are_taken_from_the_start(report_and_notes: list[Document]) -> None:
    context = build_context(report_and_notes, "summarise, please", words, budget_tokens=500)
    assert context.citations[0] == "[report.pdf, p. 1]" and "topic1 note 0:" in context.text
    assert context.tokens <= 500


def test_nothing_fits_a_zero_budget(report_and_notes: list[Document]) -> None:
    context = build_context(report_and_notes, "rocket", words, budget_tokens=0)
    assert (context.text, context.tokens, context.citations) == ("", 0, ())
    assert context.omitted == ("report.pdf: not included", "notes.md: not included")


def test_chunks_follow_lines_and_cover_the_document(report_and_notes: list[Document]) -> None:
    notes = report_and_notes[1]
    chunks = chunk_document(notes, words, chunk_tokens=60)
    assert len(chunks) > 5
    lines = notes.text.split("\n")
    for chunk in chunks:
        assert chunk.tokens <= 120
        assert chunk.text == "\n".join(lines[chunk.first - 1 : chunk.last])  # whole lines only
    covered = [line for chunk in chunks for line in range(chunk.first, chunk.last + 1)]
    assert covered == sorted(set(covered))  # in order, no overlap
    assert set(covered) >= {n for n, line in enumerate(lines, start=1) if line.strip()}


def test_a_long_line_without_spaces_is_still_cut(tmp_path: Path) -> None:
    path = tmp_path / "min.json"
    path.write_text(json.dumps(list(range(3000)), separators=(",", ":")))
    doc = extract(path)
    chunks = chunk_document(doc, lambda text: len(text) // 4, chunk_tokens=300)
    assert len(chunks) > 5 and "".join(chunk.text for chunk in chunks) == doc.text
    assert all(chunk.citation == "[min.json, line 1]" for chunk in chunks)


def test_bm25_prefers_the_rare_matching_term() -> None:
    scores = bm25_scores(["the cat sat", "the dog ran", "the zebra slept"], "the zebra")
    assert scores.index(max(scores)) == 2
    assert bm25_scores(["a", "b"], "") == [0.0, 0.0]


def test_budget_holds_with_the_real_tokenizer(report_and_notes: list[Document], default_model_dir: Path) -> None:
    path = default_model_dir / "tokenizer.json"
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    context = build_context(report_and_notes, "What is the rocket launch code?", count, budget_tokens=500)
    assert not context.fits_whole and context.tokens == count(context.text) <= 500
    assert "zebra-42" in context.text and "[report.pdf, p. 3]" in context.citations
    whole = build_context(report_and_notes[1:], "anything", count, budget_tokens=100_000)
    assert whole.fits_whole and whole.tokens == count(whole.text)
