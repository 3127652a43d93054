"""Chunk vectors kept in SQLite, so a document is embedded once, not once per process.

A document's vectors are keyed by the SHA-256 of its text and each chunk's character
span, under the embedder that made them. A document's new vectors are written in one
transaction: an embedding run that is cancelled or fails leaves none of them, and the
next run embeds only the chunks the store lacks.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.core import paths

Span = tuple[int, int]  # a chunk's start and end offsets in the document's text
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk_vectors (
    embedder TEXT NOT NULL,
    document TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, document, start, end)
) WITHOUT ROWID
"""


def document_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def default_store_path() -> Path:
    return paths.data_dir() / "index" / "vectors.sqlite3"


class VectorStore:
    """Float32 vectors per (embedder, document digest, span); safe to share between threads."""

    def __init__(self, path: Path, embedder: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.embedder = embedder
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def load(self, document: str, spans: Iterable[Span]) -> dict[Span, np.ndarray]:
        """The stored vectors among ``spans`` of ``document`` (a digest)."""
        wanted = set(spans)
        with self._lock:
            rows = self._db.execute(
                "SELECT start, end, vector FROM chunk_vectors WHERE embedder = ? AND document = ?",
                (self.embedder, document),
            ).fetchall()
        return {(a, b): np.frombuffer(blob, dtype=np.float32) for a, b, blob in rows if (a, b) in wanted}

    def save(self, document: str, vectors: dict[Span, np.ndarray]) -> None:
        """Store all of ``vectors`` or, if anything fails, none of them."""
        rows = [(self.embedder, document, a, b, np.asarray(v, dtype=np.float32).tobytes()) for (a, b), v in vectors.items()]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO chunk_vectors VALUES (?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def count(self, document: str | None = None) -> int:
        query, args = "SELECT COUNT(*) FROM chunk_vectors WHERE embedder = ?", [self.embedder]
        if document is not None:
            query, args = query + " AND document = ?", [*args, document]
        with self._lock:
            return int(self._db.execute(query, args).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
