"""Whether two models share a tokenizer: the test a draft model must pass.

A draft model proposes token ids that the target model checks, so both must mean
the same text by the same id and end a reply on the same ids. Only tokenizer.json
and the configs are read, as plain JSON (building a tokenizer holds the GIL for a
third of a second), and each folder's answer is kept until its tokenizer changes,
so a picker can test many folders without stalling the window or loading a graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from engine.core.config_files import read_json
from engine.core.errors import ModelLoadError
from engine.runtime.model import ModelFiles, eos_ids, locate
from engine.runtime.tokenizer import token_text


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


class _TokenLookup:
    """What ``eos_ids`` needs from a codec, answered from tokenizer.json's own tables."""

    def __init__(self, vocab: dict[str, int], eos_token: str | None) -> None:
        self.vocab, self.eos_token = vocab, eos_token

    def token_id(self, text: str) -> int | None:
        return self.vocab.get(text)


def read_vocabulary(folder: Path | str) -> Vocabulary:
    """Read a model folder's tokenizer; raises ``ModelLoadError`` if the folder is not a model."""
    files = locate(Path(folder))
    path = files.folder / "tokenizer.json"
    if not path.is_file():
        raise ModelLoadError(f"{files.folder} has no tokenizer.json.")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        _CACHE[key] = _read(files, path)
    return _CACHE[key]


def _read(files: ModelFiles, path: Path) -> Vocabulary:
    data = read_json(path)
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    table = model.get("vocab", {})
    if isinstance(table, list):  # Unigram: [token, score] pairs, the id is the position
        vocab = {entry[0]: i for i, entry in enumerate(table) if isinstance(entry, list) and entry}
    elif isinstance(table, dict):
        vocab = dict(table)
    else:
        raise ModelLoadError(f"{path} has no vocabulary table Hearth can read.")
    for added in data.get("added_tokens") or []:
        if isinstance(added, dict) and "content" in added and "id" in added:
            vocab[str(added["content"])] = int(added["id"])
    digest = _digest(vocab, path)
    config = read_json(files.folder / "tokenizer_config.json")
    lookup = _TokenLookup(vocab, token_text(config.get("eos_token")))
    return Vocabulary(files.folder, len(vocab), digest, eos_ids(files, lookup), token_text(config.get("bos_token")))


def _digest(vocab: dict[str, int], path: Path) -> str:
    """A digest of the tokens in id order (an id-indexed list: sorting 50,000 pairs costs more)."""
    try:
        by_id = [""] * (max(vocab.values(), default=-1) + 1)
        for token, i in vocab.items():
            by_id[i] = token
    except (TypeError, IndexError):
        raise ModelLoadError(f"{path} has token ids that are not whole numbers from 0.") from None
    return hashlib.sha256("\0".join(by_id).encode("utf-8", "surrogatepass")).hexdigest()


_CACHE: dict[tuple[str, int, int], Vocabulary] = {}


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
