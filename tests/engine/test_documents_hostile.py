"""Hostile documents: zip bombs, quadratic HTML, millions of paragraphs, odd encodings.

Each call runs under ``bounded`` so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import tracemalloc
from pathlib import Path

import pytest

from engine.core.errors import DocumentError
from engine.documents import ExtractionCancelled, extract, paragraph_spans
from engine.documents.retrieval import build_context
from tests.engine.hostile import bounded, docx_with_body, paragraphs_xml


def words(text: str) -> int:
    return len(text.split())


# --- DOCX zip bombs ---------------------------------------------------------------


def test_docx_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    # 20 million characters in one paragraph squeeze into about 20 KB.
    bomb = docx_with_body(tmp_path / "bomb.docx", paragraphs_xml(["a" * 20_000_000]))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DocumentError, match=r"bomb\.docx expands to .* when unpacked.*not a normal Word file"):
        bounded(lambda: extract(bomb), timeout=30)


def test_docx_over_the_inflated_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.documents import zip_limits

    monkeypatch.setattr(zip_limits, "MAX_INFLATED_BYTES", 1024 * 1024)
    # Random bytes do not compress, so only the total size gives it away.
    path = docx_with_body(tmp_path / "big.docx", paragraphs_xml(["hello"]), {"word/media/image1.bin": os.urandom(2 << 20)})
    with pytest.raises(DocumentError, match=r"big\.docx expands to 2\.\d MiB when unpacked"):
        bounded(lambda: extract(path), timeout=30)


def _lie_about_sizes(path: Path, member: str, claimed: int) -> None:
    """Rewrite ``member``'s uncompressed size in both headers to ``claimed``."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        for match in re.finditer(re.escape(signature), bytes(data)):
            header = match.start()
            name_at = header + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + len(name)] == name:
                struct.pack_into("<I", data, header + size_at, claimed)
    path.write_bytes(bytes(data))


def test_docx_whose_header_lies_is_stopped_while_inflating(tmp_path: Path) -> None:
    path = docx_with_body(tmp_path / "liar.docx", paragraphs_xml(["b" * 5_000_000]))
    _lie_about_sizes(path, "word/document.xml", 10_000)
    with pytest.raises(DocumentError, match=r"liar\.docx"):
        bounded(lambda: extract(path), timeout=30)


def test_normal_docx_still_reads(tmp_path: Path) -> None:
    path = docx_with_body(tmp_path / "ok.docx", paragraphs_xml([f"Paragraph {i} of a memo." for i in range(200)]))
    doc = extract(path)
    assert doc.text.startswith("Paragraph 0 of a memo.\nParagraph 1") and doc.text.count("\n") == 199


# --- HTML -------------------------------------------------------------------------


def test_html_with_unclosed_tags_parses_in_linear_time(tmp_path: Path) -> None:
    # html.parser is quadratic here: 100 KB of "<a" took about 9 s, 400 KB 149 s.
    path = tmp_path / "tags.html"
    path.write_text("<p>Before the storm.</p>" + "<a" * 50_000, encoding="utf-8")
    cancel = threading.Event()
    doc, seconds = bounded(lambda: extract(path, cancel=cancel), timeout=60, cancel=cancel)
    assert seconds < 3, f"{seconds:.1f} s"
    assert "Before the storm." in doc.text


def test_html_entities_tables_and_hidden_parts(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<!DOCTYPE html><html><head><title>T</title><!-- a comment --></head><body>"
        "<p>caf&eacute; &lt;b&gt; &#8364;5</p><template><p>never</p></template>"
        "<table><tr><th>k</th><td>v</td></tr></table><svg><text>no</text></svg>after svg</body></html>",
        encoding="utf-8",
    )
    text = extract(path).text
    assert "café <b> €5" in text and "k v" in text and "after svg" in text
    for hidden in ("never", "comment", "no\n"):
        assert hidden not in text


# --- cancelling any reader ----------------------------------------------------------


class _SetAfter(threading.Event):
    """Reports itself set from the ``n``-th check on: cancels part-way through a read."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.checks, self._n = 0, n

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self._n or super().is_set()


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "long.txt"
    path.write_text("A line of ordinary text, long enough.\n\n" * 200_000, encoding="utf-8")
    return path


def _html_file(tmp_path: Path) -> Path:
    path = tmp_path / "long.html"
    path.write_text("<html><body>" + "<p>Some paragraph text here.</p>\n" * 200_000 + "</body></html>")
    return path


def _docx_file(tmp_path: Path) -> Path:
    return docx_with_body(tmp_path / "long.docx", paragraphs_xml([f"Paragraph {i}." for i in range(30_000)]))


@pytest.mark.parametrize("make", [_text_file, _html_file, _docx_file], ids=["text", "html", "docx"])
def test_every_reader_checks_cancel_while_reading(tmp_path: Path, make) -> None:
    path = make(tmp_path)
    cancel = _SetAfter(3)  # the first check is before reading; later ones must come from inside the reader
    with pytest.raises(ExtractionCancelled):
        bounded(lambda: extract(path, cancel=cancel), timeout=60)


# --- millions of tiny paragraphs -----------------------------------------------------


def test_one_letter_paragraphs_stay_few_spans_and_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "letters.txt"
    path.write_text("a\n\n" * 300_000, encoding="utf-8")  # 900 KB, 300,000 paragraphs
    size = path.stat().st_size
    tracemalloc.start()
    try:
        doc, seconds = bounded(lambda: extract(path), timeout=60)
        context, _ = bounded(lambda: build_context([doc], "a", words, 2000), timeout=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(doc.pages) <= size // 100, len(doc.pages)
    assert peak < 30 * size, f"peak {peak / 1e6:.0f} MB for a {size / 1e6:.1f} MB file"
    assert context.text and context.tokens <= 2000
    assert re.search(r"\[letters\.txt, lines? \d+", context.text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "one\n",
        "a\nb\n\n\nc\nd\ne\n",
        "  \n\t\nx\n \n",
        "a\n\n" * 500,
        ("word " * 30 + "\n") * 40 + "\n\n" + "tail",
        "\n".join(("p" * (i % 7)) for i in range(2000)),
    ],
)
def test_spans_cover_every_word_with_true_line_numbers(text: str) -> None:
    spans = paragraph_spans(text)
    covered = [False] * len(text)
    previous_end = -1
    for span in spans:
        assert previous_end < span.start < span.end or span.start == 0 < span.end
        previous_end = span.end
        piece = text[span.start : span.end]
        assert piece.strip() and piece == piece.strip("\n")
        assert span.start == 0 or text[span.start - 1] == "\n"  # starts a line
        assert span.end == len(text) or text[span.end] == "\n"  # ends a line
        assert span.first == text.count("\n", 0, span.start) + 1
        assert span.last == text.count("\n", 0, span.end) + 1
        covered[span.start : span.end] = [True] * (span.end - span.start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())


# --- encodings ---------------------------------------------------------------------


CHINESE = "这是一个中文文本的例子，用来测试编码检测是否正确。我们希望看到正确的结果。\n" * 20
JAPANESE = "これは日本語のテキストです。エンコーディングの検出をテストします。\n" * 20


def test_a_stray_byte_does_not_turn_utf8_into_binary(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(CHINESE[:100].encode("utf-8") + b"\xff" + CHINESE[100:].encode("utf-8"))
    doc = extract(path)
    assert doc.text == CHINESE[:100] + "\ufffd" + CHINESE[100:]
    assert doc.encoding == "utf-8"
    assert "1 byte" in doc.note and "UTF-8" in doc.note


@pytest.mark.parametrize(("text", "codec", "names"), [
    (CHINESE, "gbk", {"gb18030", "gbk", "gb2312"}),
    (JAPANESE, "shift_jis", {"cp932", "shift_jis"}),
])  # fmt: skip
def test_cjk_legacy_encodings_are_detected_and_named(tmp_path: Path, text: str, codec: str, names: set[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode(codec))
    doc = extract(path)
    assert doc.text == text
    assert doc.encoding in names
    assert "guessed" in doc.note and doc.encoding.upper().replace("_", "-") in doc.note.upper().replace("_", "-")


def test_guessed_western_encoding_is_named_and_utf8_is_silent(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("naïve café — 10 €\n".encode("cp1252"))
    doc = extract(path)
    assert doc.text == "naïve café — 10 €\n" and doc.encoding == "cp1252" and "Windows-1252" in doc.note
    path.write_text("plain café\n", encoding="utf-8")
    assert (extract(path).encoding, extract(path).note) == ("utf-8", "")


def test_docx_with_too_much_xml_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.documents import zip_limits

    monkeypatch.setattr(zip_limits, "MAX_XML_BYTES", 512 * 1024)
    body = paragraphs_xml([os.urandom(8).hex() for _ in range(30_000)])  # about 2 MB, compresses ~3x
    path = docx_with_body(tmp_path / "long.docx", body)
    with pytest.raises(DocumentError, match=r"long\.docx holds \d\.\d MiB of XML when unpacked.* up to 512 KiB of XML"):
        bounded(lambda: extract(path), timeout=30)
