"""Read a GGUF file: architecture, tokenizer metadata and raw quantized blocks.

Only the pieces the converter needs are exposed. Quantized tensors come back as
their raw blocks (``d``, ``m``, ``q``) so the exact route can keep the grid the
file was quantized on instead of re-quantizing a dequantized copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.core.errors import ConversionError, MissingExtraError

if TYPE_CHECKING:
    import gguf

GGUF_MAGIC = b"GGUF"
# Architectures the GenAI builder turns into a fast graph and whose GGUF tensor
# names transformers knows how to map. No "mistral": gguf has no such architecture
# (llama.cpp writes Mistral models as "llama") and transformers cannot load one.
SUPPORTED_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "nemotron"})


@dataclass(frozen=True)
class TokenizerMeta:
    """The tokenizer as the GGUF file describes it (llama.cpp's view)."""

    model: str
    pre: str
    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[str, ...]
    bos_id: int | None
    eos_id: int | None
    add_bos: bool
    add_eos: bool
    chat_template: str | None


def _require_gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:  # the convert extra is optional
        raise MissingExtraError(
            'Reading GGUF files needs the converter packages: pip install "hearth[convert]"'
        ) from exc
    return gguf


def is_gguf(path: Path) -> bool:
    """True when ``path`` is a file that starts with the GGUF magic."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


class GGUFSource:
    """One opened GGUF file (memory-mapped by the ``gguf`` package)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConversionError(f"{self.path} does not exist or is not a file.")
        if not is_gguf(self.path):
            raise ConversionError(
                f"{self.path} is not a GGUF file (it does not start with the GGUF magic bytes)."
            )
        gguf_mod = _require_gguf()
        try:
            self._reader: gguf.GGUFReader = gguf_mod.GGUFReader(str(self.path))
        except Exception as exc:  # truncated or corrupt files raise many kinds
            raise ConversionError(f"{self.path} is not a GGUF file that can be read: {exc}") from exc
        self._tensors = {t.name: t for t in self._reader.tensors}
        arch = self.architecture
        if arch not in SUPPORTED_ARCHITECTURES:
            raise ConversionError(
                f"{self.path} holds a '{arch}' model; Hearth can convert only "
                f"{', '.join(sorted(SUPPORTED_ARCHITECTURES))}."
            )

    # -- metadata -----------------------------------------------------------
    def field(self, key: str, default: Any = None) -> Any:
        """The decoded value of metadata ``key``, or ``default``."""
        f = self._reader.fields.get(key)
        if f is None:
            return default
        return f.contents()

    @property
    def architecture(self) -> str:
        return str(self.field("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.field("general.name", self.path.stem))

    def arch_field(self, key: str, default: Any = None) -> Any:
        """Metadata under the architecture prefix, e.g. ``attention.head_count``."""
        return self.field(f"{self.architecture}.{key}", default)

    def tokenizer(self) -> TokenizerMeta:
        """The tokenizer metadata llama.cpp would use."""
        g = "tokenizer.ggml."
        return TokenizerMeta(
            model=str(self.field(g + "model", "")),
            pre=str(self.field(g + "pre", "default")),
            tokens=tuple(self.field(g + "tokens", ())),
            token_types=tuple(int(t) for t in self.field(g + "token_type", ())),
            merges=tuple(self.field(g + "merges", ())),
            bos_id=self.field(g + "bos_token_id"),
            eos_id=self.field(g + "eos_token_id"),
            # llama.cpp's defaults when the keys are absent (gpt2-style vocab).
            add_bos=bool(self.field(g + "add_bos_token", False)),
            add_eos=bool(self.field(g + "add_eos_token", False)),
            chat_template=self.field("tokenizer.chat_template"),
        )

    # -- tensors ------------------------------------------------------------
    def tensor_names(self) -> list[str]:
        return list(self._tensors)

    def tensor_type(self, name: str) -> str:
        """The ggml type name, e.g. ``Q4_1``."""
        return str(self._tensors[name].tensor_type.name)

    def tensor_rows(self, name: str) -> int:
        """The number of rows (output features) of a 2-D tensor."""
        return int(self._tensor(name).data.shape[0])

    def main_weight_type(self) -> str:
        """The type of the first attention weight (q, or Phi-3's fused q/k/v): the file's working precision."""
        for name in self._tensors:
            if name.endswith(("attn_q.weight", "attn_qkv.weight")):
                return self.tensor_type(name)
        return "unknown"

    def raw(self, name: str) -> np.ndarray:
        """The stored bytes of a quantized tensor, ``[rows, bytes per row]``."""
        data = np.asarray(self._tensor(name).data)
        return data.view(np.uint8).reshape(data.shape[0], -1)

    def _tensor(self, name: str) -> Any:
        t = self._tensors.get(name)
        if t is None:
            raise ConversionError(f"{self.path} has no tensor '{name}'.")
        return t

    def dequantized(self, name: str) -> np.ndarray:
        """Float32 ``[rows, cols]`` by ``gguf``'s own dequantizer (F32/F16/BF16 are exact)."""
        from gguf import quants

        t = self._tensors[name]
        return np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32)


def unpermute_rotary(rows: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation (interleaved -> half-split rotary).

    llama.cpp's converter reorders the rows of q and k per head so its rotary
    kernel can rotate adjacent pairs; Hugging Face and the GenAI graph rotate the
    two halves of each head, so the original row order is needed back.
    """
    n = rows.shape[0]
    rest = rows.shape[1:]
    half = n // n_head // 2
    return rows.reshape(n_head, half, 2, *rest).swapaxes(1, 2).reshape(n, *rest)
