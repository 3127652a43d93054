"""Hybrid retrieval in the prompt path: BM25 fused with the embedder, BM25 alone without it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.documents import extract
from engine.documents.dense import DENSE_CHUNK_TOKENS, DenseScorer, installed_scorer
from engine.documents.fusion import hybrid_scores
from engine.documents.retrieval import build_context
from engine.generation.prompt import Turn, compose
from tests.helpers.make_pdf import write_pdf

DATA = Path(__file__).resolve().parents[1] / "data"
TOPICS = {"pets": ("feline", "kitten", "cat", "milk", "water"), "ships": ("harbour", "vessel", "anchor", "sail")}


def words(text: str) -> int:
    return len(text.split())


class TopicEmbedder:
    """A stand-in encoder: one axis per topic, lit by any of its words."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.full((len(texts), len(TOPICS) + 1), 1e-3, dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = set(re.findall(r"\w+", text.lower()))
            for axis, vocabulary in enumerate(TOPICS.values()):
                out[row, axis] += len(lowered & set(vocabulary))
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _filler(n: int) -> str:
    return "\n".join(f"The clause {n}.{i} says what the parties agree about the fees and the dates." for i in range(40))


@pytest.fixture
def report(tmp_path: Path):
    pages = [_filler(1), _filler(2), _filler(3), "Feline companions want fresh water every morning.", _filler(5)]
    return extract(write_pdf(tmp_path / "report.pdf", pages))


QUESTION = "What does the kitten drink?"  # shares only "the"/"what" with the filler, nothing with page 4


def test_bm25_alone_misses_the_paraphrase_and_hybrid_finds_it_with_its_page(report) -> None:
    # RRF: a chunk first by meaning but last by BM25 ranks about tenth here, so the
    # budget holds a dozen chunks (of 20); BM25 alone leaves it out whatever the budget.
    plain = build_context([report], QUESTION, words, 1600, chunk_tokens=DENSE_CHUNK_TOKENS)
    assert "Feline" not in plain.text
    hybrid = build_context([report], QUESTION, words, 1600, dense=DenseScorer(TopicEmbedder))
    assert not hybrid.fits_whole and hybrid.tokens <= 1600
    assert "Feline companions want fresh water every morning." in hybrid.text
    # Its excerpt (joined with the chunk before it, which was chosen too) is cited up to page 4.
    holder = next(b for b in hybrid.text.split("\n\n[") if "Feline" in b)
    assert re.match(r"(\[)?report\.pdf, pp?\. (\d+-)?4\]", holder)
    assert all(re.fullmatch(r"\[report\.pdf, pp?\. [\d-]+\]", c) for c in hybrid.citations)
    assert any("not included" in line for line in hybrid.omitted)


def test_every_excerpt_carries_its_file_and_lines(tmp_path: Path) -> None:
    text = "\n\n".join(
        [_filler(1), "The vessel dropped anchor in the harbour at dusk.", _filler(2), _filler(3)]
    )
    (tmp_path / "log.md").write_text(text, encoding="utf-8")
    doc = extract(tmp_path / "log.md")
    context = build_context([doc], "where did the ship stop for the night", words, 1000,
                            dense=DenseScorer(TopicEmbedder))
    assert "The vessel dropped anchor" in context.text
    headers = re.findall(r"^\[log\.md, lines? \d+(?:-\d+)?\]$", context.text, re.M)
    assert headers and headers == list(context.citations)
    line = doc.text[: doc.text.index("The vessel")].count("\n") + 1
    spans = [tuple(map(int, re.findall(r"\d+", h))) for h in headers]
    assert any(s[0] <= line <= s[-1] for s in spans)


def test_vectors_are_cached_per_document(report, tmp_path: Path) -> None:
    embedder = TopicEmbedder()
    scorer = DenseScorer(lambda: embedder)
    build_context([report], QUESTION, words, 300, dense=scorer)
    first = scorer.embedded
    assert first > 1
    build_context([report], "Which clause covers the fees?", words, 300, dense=scorer)
    assert scorer.embedded == first  # only the question was embedded again
    assert embedder.calls[-1] == 1
    other = extract(write_pdf(tmp_path / "other.pdf", [_filler(7), _filler(8)]))
    build_context([report, other], QUESTION, words, 300, dense=scorer)
    assert first < scorer.embedded  # the new document only


def test_a_broken_embedder_falls_back_to_bm25_silently(report, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> TopicEmbedder:
        raise RuntimeError("model.onnx is damaged")

    plain = build_context([report], QUESTION, words, 300, chunk_tokens=DENSE_CHUNK_TOKENS)
    scorer = DenseScorer(broken)
    assert build_context([report], QUESTION, words, 300, dense=scorer) == plain
    assert build_context([report], QUESTION, words, 300, dense=scorer) == plain  # no retry, no error
    assert "BM25 alone" in caplog.text


def test_without_an_installed_embedder_compose_uses_bm25_alone(report, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "empty-home"))
    assert installed_scorer() is None
    turns = [Turn("user", QUESTION, (report,))]
    assert compose("", turns, words, 1024, 64, installed_scorer()) == compose("", turns, words, 1024, 64)


def test_hybrid_scores_keep_bm25_matches_and_the_dense_top_only() -> None:
    keyword = [2.0, 0.0, 1.0, 0.0, 0.0]
    dense = [0.1, 0.9, 0.2, 0.0, 0.3]
    fused = hybrid_scores(keyword, dense, dense_top=1)
    assert [i for i, s in enumerate(fused) if s > 0] == [0, 1, 2]
    assert all(s > 0 for s in hybrid_scores([0.0] * 5, dense))  # nothing matches: rank everything


def test_real_embedder_finds_a_paraphrased_answer_in_the_gpl(embedder_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed embedder in the prompt path; the question is not one of the 42 in the set."""
    monkeypatch.setenv("HEARTH_HOME", str(embedder_dir.parents[2]))
    scorer = installed_scorer()
    assert scorer is not None
    doc = extract(DATA / "gpl3.txt")
    question = "Can I sell copies of the program?"
    answer = "You may charge any price or no price for each copy"
    assert answer not in " ".join(build_context([doc], question, words, 1000).text.split())  # BM25 alone
    context = build_context([doc], question, words, 1000, dense=scorer)
    assert answer in " ".join(context.text.split())
    assert all(re.fullmatch(r"\[gpl3\.txt, lines? [\d-]+\]", c) for c in context.citations)
    assert json.loads((embedder_dir / "hearth.json").read_text())["dimensions"] == 384
