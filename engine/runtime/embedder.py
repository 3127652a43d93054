"""Sentence embeddings on ONNX Runtime: a BERT encoder, mean pooling, unit length.

The folder is built at install time by ``engine.convert.embedder_model`` from the
weights of sentence-transformers/all-MiniLM-L6-v2. It holds:

* ``model.onnx``: the encoder, ``input_ids``/``attention_mask``/``token_type_ids``
  in, ``last_hidden_state`` out;
* ``tokenizer.json``: the model's own WordPiece tokenizer;
* ``hearth.json``: how to pool (``mean``), whether to normalize, the longest input.

The pooling follows the model's sentence-transformers modules: the mean of the token
vectors under the attention mask, then L2 normalization, so a dot product is the cosine.
No torch at run time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from engine.core import paths
from engine.core.errors import ModelLoadError

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_ROUTE = "bert-mean-pool-v1"
_FILES = ("model.onnx", "tokenizer.json", "hearth.json")


def embedder_dir() -> Path:
    """Where the embedder lives once installed: beside the chat models, not among them."""
    return paths.data_dir() / "embedders" / EMBEDDER_NAME


def installed_embedder_dir() -> Path | None:
    """The embedder's folder if it is installed, else None; looked up on every call, so an
    install is seen without a restart."""
    folder = embedder_dir()
    return folder if (folder / "model.onnx").is_file() else None


@dataclass(frozen=True)
class EmbedderInfo:
    """What ``hearth.json`` says about an embedder folder."""

    name: str
    dimensions: int
    max_tokens: int
    pooling: str  # "mean" is the only one supported
    normalize: bool


class Embedder:
    """Turns texts into unit vectors; one ONNX Runtime session, used from one thread at a time.

    Args:
        folder: An embedder folder (see the module docstring).
        threads: Intra-op threads for the session; 0 lets ONNX Runtime choose.

    Raises:
        ModelLoadError: the folder is missing, incomplete or of an unknown kind.
    """

    def __init__(self, folder: Path, threads: int = 0) -> None:
        missing = [name for name in _FILES if not (folder / name).is_file()]
        if missing:
            raise ModelLoadError(
                f"The embedder in {folder} is incomplete (missing {', '.join(missing)}); "
                "run `hearth-cli models install-default` again."
            )
        self.info = _read_info(folder)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.info.max_tokens)
        self._tokenizer.no_padding()  # each batch is padded to its own longest text
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options, ["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """One float32 row per text, ``(len(texts), dimensions)``; unit length if the model says so.

        Texts longer than ``info.max_tokens`` are truncated, as the reference model does.
        Texts are batched by length, so padding stays small.
        """
        return self.embed_and_count(texts, batch_size)[0]

    def embed_and_count(self, texts: Sequence[str], batch_size: int = 16) -> tuple[np.ndarray, int]:
        """``embed``, and how many tokens the encoder read (after truncation): a server's usage figure."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        out = np.zeros((len(texts), self.info.dimensions), dtype=np.float32)
        if not texts:
            return out, 0
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._embed_batch([encodings[i] for i in rows])
        return out, sum(len(e.ids) for e in encodings)

    def _embed_batch(self, encodings: list) -> np.ndarray:  # type: ignore[type-arg]
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = enc.ids, enc.attention_mask, enc.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (hidden,) = self._session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in self._inputs})
        return pool(hidden, mask, self.info.normalize)


def pool(hidden: np.ndarray, mask: np.ndarray, normalize: bool) -> np.ndarray:
    """Mean of the token vectors where ``mask`` is 1, then (optionally) L2-normalized.

    Args:
        hidden: ``(batch, tokens, dims)`` token vectors.
        mask: ``(batch, tokens)`` attention mask of 0s and 1s.
        normalize: Scale each row to unit length, as sentence-transformers' Normalize does.
    """
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    mean = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    if not normalize:
        return mean
    return mean / np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)


def _read_info(folder: Path) -> EmbedderInfo:
    try:
        meta = json.loads((folder / "hearth.json").read_text(encoding="utf-8"))
        info = EmbedderInfo(
            name=str(meta["name"]),
            dimensions=int(meta["dimensions"]),
            max_tokens=int(meta["max_tokens"]),
            pooling=str(meta["pooling"]),
            normalize=bool(meta["normalize"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"The embedder's hearth.json in {folder} cannot be read ({exc}).") from exc
    if info.pooling != "mean":
        raise ModelLoadError(f"The embedder in {folder} asks for '{info.pooling}' pooling, which Hearth does not do.")
    return info
