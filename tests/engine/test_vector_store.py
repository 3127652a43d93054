"""Chunk vectors in SQLite: embedded once, nothing half-stored on cancel, only what is missing after a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from engine.documents import extract
from engine.documents.dense import DENSE_CHUNK_TOKENS, DenseScorer
from engine.documents.retrieval import chunk_document
from engine.documents.vector_store import VectorStore, document_digest
from engine.runtime.embedder import Embedder

DATA = Path(__file__).resolve().parents[1] / "data"


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def gpl():
    doc = extract(DATA / "gpl3.txt")
    return doc, chunk_document(doc, words, DENSE_CHUNK_TOKENS)


def _scorer(embedder_dir: Path, db: Path) -> DenseScorer:
    return DenseScorer(lambda: Embedder(embedder_dir), store=VectorStore(db, "minilm"))


def test_a_restart_embeds_only_the_chunks_the_store_lacks(embedder_dir, gpl, tmp_path):
    doc, chunks = gpl
    db = tmp_path / "vectors.sqlite3"
    first = _scorer(embedder_dir, db)
    assert first.index(doc, chunks[:20])
    assert first.store.count(document_digest(doc.text)) == 20
    first.store.close()
    again = _scorer(embedder_dir, db)  # a new process, as after a restart
    assert again.index(doc, chunks)
    assert again.embedded == len(chunks) - 20
    stored = again.store.load(document_digest(doc.text), [(c.start, c.end) for c in chunks[:3]])
    fresh = Embedder(embedder_dir).embed([c.text for c in chunks[:3]])
    assert np.allclose([stored[(c.start, c.end)] for c in chunks[:3]], fresh, atol=1e-6)
    scores = again.scores([doc], [chunks], "Can I charge a fee for copies?")
    assert scores is not None and again.embedded == len(chunks) - 20  # questions embed no chunk again


def test_a_cancelled_index_stores_nothing_and_the_next_run_embeds_it_all(embedder_dir, gpl, tmp_path):
    doc, chunks = gpl
    db = tmp_path / "vectors.sqlite3"
    scorer = _scorer(embedder_dir, db)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        cancel.set()  # the user removes the attachment after the first batch

    assert not scorer.index(doc, chunks, progress, cancel)
    assert seen and seen[0][1] == len(chunks)
    assert scorer.store.count() == 0  # no half index
    later = _scorer(embedder_dir, db)
    assert later.index(doc, chunks)
    assert later.embedded == len(chunks) and later.store.count() == len(chunks)

