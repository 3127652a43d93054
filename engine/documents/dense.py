"""Dense scores for retrieval: cosines of chunks to the question with the installed embedder.

``installed_scorer()`` gives the process-wide ``DenseScorer`` when the embedder
(``engine.runtime.embedder``) is installed, else None; ``build_context`` then ranks with
BM25 alone. A scorer that cannot load or run its embedder also answers None, once logged,
so retrieval falls back to BM25 without the user seeing an error.

Chunk vectors are kept in memory per document (keyed by its name and a hash of its text),
so a document is embedded once per process, not on every question. Storing them with
the attachment in SQLite, so a restart does not embed again, is a later step.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from engine.documents.model import Document

if TYPE_CHECKING:
    from engine.documents.retrieval import Chunk

log = logging.getLogger(__name__)
# Chunk size when ranking with the embedder: the size the recall figures in docs/embeddings.md
# were measured at, well inside the encoder's 256-token window, so no chunk is truncated.
DENSE_CHUNK_TOKENS = 128
MAX_DOCUMENTS = 32  # documents whose vectors stay in memory


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Any: ...  # (n, dims) unit rows, numpy


class DenseScorer:
    """Cosine of each chunk to a question; the embedder is loaded on first use.

    Args:
        load: Makes the embedder (``engine.runtime.embedder.Embedder`` in the app).
        max_documents: How many documents' vectors to keep (least recently used go first).

    Safe to share between threads: one call embeds at a time.
    """

    chunk_tokens = DENSE_CHUNK_TOKENS

    def __init__(self, load: Callable[[], TextEmbedder], max_documents: int = MAX_DOCUMENTS) -> None:
        self._load = load
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

    def _vectors(self, embedder: TextEmbedder, doc: Document, chunks: Sequence[Chunk]) -> list[Any]:
        key = (doc.name, hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest())
        known = self._cache.pop(key, {})
        self._cache[key] = known
        while len(self._cache) > self._max_documents:
            self._cache.popitem(last=False)
        missing = [chunk for chunk in chunks if (chunk.start, chunk.end) not in known]
        if missing:
            # The text alone: the citation header says nothing about the content.
            for chunk, vector in zip(missing, embedder.embed([chunk.text for chunk in missing])):
                known[(chunk.start, chunk.end)] = vector
            self.embedded += len(missing)
        return [known[(chunk.start, chunk.end)] for chunk in chunks]


_shared: dict[str, DenseScorer] = {}
_shared_lock = threading.Lock()


def installed_scorer() -> DenseScorer | None:
    """The process-wide scorer if the embedder is installed, else None (checked on every call)."""
    from engine.runtime.embedder import Embedder, installed_embedder_dir

    folder = installed_embedder_dir()
    if folder is None:
        return None
    with _shared_lock:
        if str(folder) not in _shared:
            _shared[str(folder)] = DenseScorer(lambda: Embedder(folder))
        return _shared[str(folder)]
