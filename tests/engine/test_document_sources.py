"""Citation sources: what retrieval put in the prompt, excerpt by excerpt, with its exact text.

Real BM25 retrieval over real PDFs (tests/helpers/make_pdf.py) and text files, read by the
real extractor; tokens are counted as words, as in tests/engine/test_documents.py.
"""

from __future__ import annotations

from pathlib import Path

from engine.documents import Document, extract
from engine.documents.retrieval import build_context
from engine.documents.sources import Source
from engine.generation.prompt import Turn, compose
from tests.helpers.make_pdf import write_pdf

CAT = "The harbour master's cat is named Biscuit."


def words(text: str) -> int:
    return len(text.split())


def _filler(topic: str, lines: int) -> str:
    # No word of the questions below, so only the page that holds the answer matches.
    return "\n".join(f"{topic} entry {i}: rainfall totals from eleven coastal stations." for i in range(lines))


def _log(tmp_path: Path) -> Document:
    # Each page (~160 words) is a chunk of its own: two would not fit one 300-word chunk.
    pages = [_filler(f"Survey{n}", 20) for n in range(1, 7)]
    pages[2] = _filler("Survey3", 10) + "\n" + CAT + "\n" + _filler("Survey3b", 10)
    return extract(write_pdf(tmp_path / "harbour-log.pdf", pages))


def test_an_excerpt_source_holds_the_page_and_the_exact_text_that_went_in(tmp_path: Path) -> None:
    doc = _log(tmp_path)
    context = build_context([doc], "What is the harbour master's cat named?", words, budget_tokens=250)
    assert not context.fits_whole
    assert [(s.name, s.unit, s.first, s.last, s.whole) for s in context.sources] == [
        ("harbour-log.pdf", "page", 3, 3, False)]
    (source,) = context.sources
    assert CAT in source.text and source.label == "harbour-log.pdf p. 3"
    # The prompt holds exactly that text under exactly that heading.
    assert f"{source.citation}\n{source.text}" in context.text
    assert context.citations == (source.citation,)
    assert context.omitted == ("harbour-log.pdf: pages 1-2, 4-6 not included",)


def test_each_citation_has_its_source_and_joined_neighbours_are_one_source(tmp_path: Path) -> None:
    doc = _log(tmp_path)
    # Every page matches "rainfall"; the budget takes the first few, neighbours joined.
    context = build_context([doc], "rainfall totals", words, budget_tokens=150, chunk_tokens=40)
    assert len(context.sources) == len(context.citations) >= 1
    for source, citation in zip(context.sources, context.citations):
        assert source.citation == citation and not source.whole
        assert f"{citation}\n{source.text}" in context.text
        pages = doc.text[doc.pages[source.first - 1].start : doc.pages[source.last - 1].end]
        assert source.text in pages  # the text comes from the pages it names
    assert sum(words(s.text) for s in context.sources) < words(doc.text)


def test_a_document_that_fits_is_one_whole_file_source(tmp_path: Path) -> None:
    pdf = extract(write_pdf(tmp_path / "short.pdf", ["First page.", "Second page.", CAT]))
    notes = tmp_path / "notes.md"
    notes.write_text("line one\nline two\n\nline four\n", encoding="utf-8")
    context = build_context([pdf, extract(notes)], "cat?", words, budget_tokens=1000)
    assert context.fits_whole and context.citations == ()
    assert [(s.name, s.unit, s.first, s.last, s.whole) for s in context.sources] == [
        ("short.pdf", "page", 1, 3, True), ("notes.md", "line", 1, 4, True)]
    assert [s.label for s in context.sources] == ["short.pdf (whole file)", "notes.md (whole file)"]
    for source in context.sources:
        assert f"--- {source.name} ---\n{source.text}" in context.text
    assert CAT in context.sources[0].text and context.sources[1].text == "line one\nline two\n\nline four"


def test_compose_carries_every_turns_sources_in_prompt_order(tmp_path: Path) -> None:
    doc = _log(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("The ferry leaves at noon.\n", encoding="utf-8")
    turns = [
        Turn("user", "When does the ferry leave?", (extract(notes),)),
        Turn("assistant", "At noon."),
        Turn("user", "What is the harbour master's cat named?", (doc,)),
    ]
    composed = compose("", turns, words, context_length=600, max_new_tokens=32)
    assert [s.label for s in composed.sources] == ["notes.txt (whole file)", "harbour-log.pdf p. 3"]
    prompt = "\n".join(m["content"] for m in composed.messages)
    assert all(s.text in prompt for s in composed.sources)
    assert composed.omitted == ("harbour-log.pdf: pages 1-2, 4-6 not included",)
    assert compose("", turns[:1], words, 600, 32).sources == composed.sources[:1]  # earlier turns unchanged


def test_labels_name_pages_paragraphs_and_lines() -> None:
    assert Source("gpl.pdf", "page", 4, 4, "").label == "gpl.pdf p. 4"
    assert Source("gpl.pdf", "page", 3, 5, "").citation == "[gpl.pdf, pp. 3-5]"
    assert Source("memo.docx", "paragraph", 2, 2, "").label == "memo.docx para. 2"
    assert Source("notes.md", "line", 10, 42, "").label == "notes.md lines 10-42"
