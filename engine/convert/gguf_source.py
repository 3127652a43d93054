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
# names transformers knows how to map.
SUPPORTED_ARCHITECTURES = frozenset({"llama", "mistral", "qwen2", "phi3", "gemma", "gemma2"})
QK = 32  # elements per block for Q4_0/Q4_1/Q8_0


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


@dataclass(frozen=True)
class Q41Blocks:
    """A Q4_1 matrix as blocks: ``w[n, b*32 + j] = d[n, b] * q[n, b, j] + m[n, b]``."""

    d: np.ndarray  # float32 [N, K/32]
    m: np.ndarray  # float32 [N, K/32]
    q: np.ndarray  # uint8 [N, K/32, 32], values 0..15, element order (unpacked)

    def dequantize(self) -> np.ndarray:
        """Float32 ``[N, K]`` weights, exactly as llama.cpp computes them."""
        w = self.d[..., None] * self.q.astype(np.float32) + self.m[..., None]
        return w.reshape(w.shape[0], -1)


@dataclass(frozen=True)
class Q80Blocks:
    """A Q8_0 matrix as blocks: ``w[n, b*32 + j] = d[n, b] * q[n, b, j]``."""

    d: np.ndarray  # float32 [N, K/32]
    q: np.ndarray  # int8 [N, K/32, 32]

    def dequantize(self) -> np.ndarray:
        """Float32 ``[N, K]`` weights."""
        w = self.d[..., None] * self.q.astype(np.float32)
        return w.reshape(w.shape[0], -1)


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

    def main_weight_type(self) -> str:
        """The type of the first attention weight: the file's working precision."""
        for name in self._tensors:
            if name.endswith("attn_q.weight"):
                return self.tensor_type(name)
        return "unknown"

    def q4_1(self, name: str) -> Q41Blocks:
        """Raw Q4_1 blocks of ``name`` (rows = output features, as stored)."""
        raw = self._raw_blocks(name, "Q4_1", 20)
        d = raw[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        m = raw[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
        packed = raw[..., 4:20]
        # ggml packs elements 0-15 in the low nibbles and 16-31 in the high ones.
        q = np.concatenate([packed & 0x0F, packed >> 4], axis=-1)
        return Q41Blocks(d=d, m=m, q=q)

    def q8_0(self, name: str) -> Q80Blocks:
        """Raw Q8_0 blocks of ``name``."""
        raw = self._raw_blocks(name, "Q8_0", 34)
        d = raw[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        q = raw[..., 2:34].copy().view(np.int8)
        return Q80Blocks(d=d, q=q)

    def _raw_blocks(self, name: str, expected: str, block_bytes: int) -> np.ndarray:
        t = self._tensors.get(name)
        if t is None:
            raise ConversionError(f"{self.path} has no tensor '{name}'.")
        if t.tensor_type.name != expected:
            raise ConversionError(f"Tensor '{name}' is {t.tensor_type.name}, expected {expected}.")
        data = np.asarray(t.data, dtype=np.uint8)
        rows = data.shape[0]
        return data.reshape(rows, -1, block_bytes)


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
