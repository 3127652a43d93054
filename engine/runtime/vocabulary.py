"""Whether two models share a tokenizer: the test a draft model must pass.

A draft model proposes token ids that the target model checks, so both must mean
the same text by the same id and end a reply on the same ids. Only the tokenizer
files are read, so a picker can test many folders without loading a graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import ModelLoadError
from engine.runtime.model import eos_ids, locate
from engine.runtime.tokenizer import TextCodec


@dataclass(frozen=True)
class Vocabulary:
    """A tokenizer's identity: its size, a digest of every token and id, and its special ids."""

    folder: Path
    size: int
    digest: str
    eos_ids: frozenset[int]
    bos_token: str | None

    def mismatch(self, other: Vocabulary) -> str | None:
        """Why ``other`` cannot draft for this model, or None if it can."""
        if self.size != other.size:
            return f"its vocabulary has {other.size} tokens and the model's has {self.size}"
        if self.digest != other.digest:
            return "its tokens map to different ids"
        if self.eos_ids != other.eos_ids:
            return f"it ends replies on ids {sorted(other.eos_ids)} and the model on {sorted(self.eos_ids)}"
        if self.bos_token != other.bos_token:
            return f"its start token is {other.bos_token!r} and the model's is {self.bos_token!r}"
        return None


def read_vocabulary(folder: Path | str) -> Vocabulary:
    """Read a model folder's tokenizer; raises ``ModelLoadError`` if the folder is not a model."""
    files = locate(Path(folder))
    codec = TextCodec(files.folder)
    vocab = codec.tokenizer.get_vocab(with_added_tokens=True)
    digest = hashlib.sha256(repr(sorted(vocab.items())).encode("utf-8")).hexdigest()
    return Vocabulary(files.folder, len(vocab), digest, eos_ids(files, codec), codec.bos_token)


def check_draft(target: Path | str, draft: Path | str) -> None:
    """Raise ``ModelLoadError`` with the reason if ``draft`` cannot draft for ``target``."""
    if Path(target).resolve() == Path(draft).resolve():
        raise ModelLoadError("A model cannot draft for itself: pick a smaller or lower-precision build.")
    reason = read_vocabulary(target).mismatch(read_vocabulary(draft))
    if reason:
        raise ModelLoadError(f"{Path(draft).name} cannot draft for {Path(target).name}: {reason}. "
                             "A draft model must use the same tokenizer as the model it drafts for.")


def compatible_drafts(target: Path | str, candidates: list[Path | str]) -> list[Path]:
    """The candidate folders that can draft for ``target`` (unreadable ones are left out)."""
    own = read_vocabulary(target)
    found = []
    for folder in candidates:
        if Path(folder).resolve() == Path(target).resolve():
            continue
        try:
            if own.mismatch(read_vocabulary(folder)) is None:
                found.append(Path(folder))
        except ModelLoadError:
            continue
    return found
