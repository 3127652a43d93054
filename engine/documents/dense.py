"""Dense scores for retrieval: cosines of chunks to the question with the installed embedder.

``installed_scorer()`` gives the process-wide ``DenseScorer`` when the embedder
(``engine.runtime.embedder``) is installed, else None; ``build_context`` then ranks with
BM25 alone. A scorer that cannot load or run its embedder also answers None, once logged,
so retrieval falls back to BM25 without the user seeing an error.

Chunk vectors are kept in memory per document (keyed by its name and a hash of its text)
and in SQLite (``engine.documents.vector_store``), so a document is embedded once, not on
every question nor again after a restart. ``index_document`` embeds a new attachment's
chunks ahead of the first question, with progress, and can be cancelled: a cancelled run
stores nothing, and the next one embeds only what is missing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from engine.documents.model import Document
from engine.documents.vector_store import VectorStore, default_store_path, document_digest

if TYPE_CHECKING:
    from engine.documents.retrieval import Chunk

log = logging.getLogger(__name__)
# Chunk size when ranking with the embedder: the size the recall figures in docs/embeddings.md
# were measured at, well inside the encoder's 256-token window, so no chunk is truncated.
DENSE_CHUNK_TOKENS = 128
MAX_DOCUMENTS = 32  # documents whose vectors stay in memory
INDEX_BATCH = 16  # chunks embedded between progress reports and cancel checks


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Any: ...  # (n, dims) unit rows, numpy


class DenseScorer:
    """Cosine of each chunk to a question; the embedder is loaded on first use.

    Args:
        load: Makes the embedder (``engine.runtime.embedder.Embedder`` in the app).
        max_documents: How many documents' vectors to keep in memory (least recently used go first).
        store: Where vectors outlive the process; None keeps them in memory only.

    Safe to share between threads: one call embeds at a time.
    """

    chunk_tokens = DENSE_CHUNK_TOKENS

    def __init__(self, load: Callable[[], TextEmbedder], max_documents: int = MAX_DOCUMENTS,
                 store: VectorStore | None = None) -> None:
        self._load = load
        self.store = store
        self._embedder: TextEmbedder | None = None
        self._broken = False
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], dict[tuple[int, int], Any]] = OrderedDict()
        self._max_documents = max_documents
        self.embedded = 0  # chunks embedded so far (the cache's misses)

    def scores(self, docs: Sequence[Document], chunks: Sequence[Sequence[Chunk]], question: str) -> list[float] | None:
        """Cosines of every chunk (``chunks[n]`` cut from ``docs[n]``, flattened in order), or None.

        None when the embedder cannot be loaded or fails: the caller ranks with BM25 alone.
        """
        with self._lock:
            embedder = self._embedder_or_none()
            if embedder is None:
                return None
            try:
                rows = [self._vectors(embedder, doc, doc_chunks) for doc, doc_chunks in zip(docs, chunks)]
                query = embedder.embed([question])[0]
            except Exception:  # noqa: BLE001 - retrieval must not fail because of the embedder
                log.exception("the embedder failed; ranking with BM25 alone")
                return None
        return [float(vector @ query) for doc_rows in rows for vector in doc_rows]

    def _embedder_or_none(self) -> TextEmbedder | None:
        if self._embedder is None and not self._broken:
            try:
                self._embedder = self._load()
            except Exception:  # noqa: BLE001
                log.exception("the embedder could not be loaded; ranking with BM25 alone")
                self._broken = True
        return self._embedder

    def index(self, doc: Document, chunks: Sequence[Chunk], progress: Callable[[int, int], None] | None = None,
              cancel: threading.Event | None = None) -> bool:
        """Embed and store the chunks not yet stored; False if cancelled (then nothing new is stored)."""
        with self._lock:
            embedder = self._embedder_or_none()
            known, digest, missing = self._known(doc, chunks)
        new: dict[tuple[int, int], Any] = {}
        for start in range(0, len(missing), INDEX_BATCH):
            if embedder is None or (cancel is not None and cancel.is_set()):
                return False
            batch = missing[start : start + INDEX_BATCH]
            with self._lock:  # a batch at a time, so a question asked meanwhile waits one batch at most
                vectors = _embed(embedder, batch)
                known.update(vectors)  # a question asked meanwhile uses them; the store gets them all at once
            new.update(vectors)
            if progress is not None:
                progress(len(new), len(missing))
        with self._lock:
            self._keep(known, digest, new)
        return True

    def _known(self, doc: Document, chunks: Sequence[Chunk]) -> tuple[dict[tuple[int, int], Any], str, list[Chunk]]:
        """The document's vectors in memory, topped up from the store; its digest; the chunks still lacking."""
        digest = document_digest(doc.text)
        key = (doc.name, digest)
        known = self._cache.pop(key, {})
        self._cache[key] = known
        while len(self._cache) > self._max_documents:
            self._cache.popitem(last=False)
        lacking = [(c.start, c.end) for c in chunks if (c.start, c.end) not in known]
        if lacking and self.store is not None:
            known.update(self.store.load(digest, lacking))
        return known, digest, [c for c in chunks if (c.start, c.end) not in known]

    def _keep(self, known: dict[tuple[int, int], Any], digest: str, new: dict[tuple[int, int], Any]) -> None:
        if not new:
            return
        known.update(new)
        self.embedded += len(new)
        if self.store is not None:
            try:
                self.store.save(digest, new)
            except Exception:  # noqa: BLE001 - a full disk must not break the answer
                log.exception("could not store the document's vectors; they stay in memory")

    def _vectors(self, embedder: TextEmbedder, doc: Document, chunks: Sequence[Chunk]) -> list[Any]:
        known, digest, missing = self._known(doc, chunks)
        if missing:
            self._keep(known, digest, _embed(embedder, missing))
        return [known[(chunk.start, chunk.end)] for chunk in chunks]


def _embed(embedder: TextEmbedder, chunks: Sequence[Chunk]) -> dict[tuple[int, int], Any]:
    """Each chunk's vector by its span. The text alone: the citation header says nothing about the content."""
    return dict(zip(((c.start, c.end) for c in chunks), embedder.embed([c.text for c in chunks])))


_shared: dict[str, DenseScorer] = {}
_shared_lock = threading.Lock()


def installed_scorer() -> DenseScorer | None:
    """The process-wide scorer if the embedder is installed, else None (checked on every call)."""
    from engine.runtime.embedder import EMBEDDER_NAME, EMBEDDER_ROUTE, Embedder, installed_embedder_dir

    folder = installed_embedder_dir()
    if folder is None:
        return None
    with _shared_lock:
        if str(folder) not in _shared:
            store = _open_store(f"{EMBEDDER_NAME}/{EMBEDDER_ROUTE}")
            _shared[str(folder)] = DenseScorer(lambda: Embedder(folder), store=store)
        return _shared[str(folder)]


def _open_store(embedder: str) -> VectorStore | None:
    try:
        return VectorStore(default_store_path(), embedder)
    except Exception:  # noqa: BLE001 - an unwritable data folder: vectors stay in memory
        log.exception("could not open the vector store; document vectors stay in memory")
        return None


def index_document(doc: Document, count_tokens: Callable[[str], int],
                   progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None) -> bool:
    """Embed ``doc``'s chunks (as retrieval will cut them) ahead of the first question.

    False if there is no embedder, it was cancelled or it failed (logged): retrieval then
    embeds what it needs itself, or ranks with BM25 alone.
    """
    from engine.documents.retrieval import chunk_document, retrieval_chunk_tokens

    scorer = installed_scorer()
    if scorer is None:
        return False
    try:
        chunks = chunk_document(doc, count_tokens, retrieval_chunk_tokens(scorer))  # as build_context cuts them
        return scorer.index(doc, chunks, progress, cancel)
    except Exception:  # noqa: BLE001 - indexing early is an optimisation, never an error
        log.exception("indexing %s failed", doc.name)
        return False
