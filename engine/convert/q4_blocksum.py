"""Q4_1 weights as symmetric 4-bit blocks plus an exact per-block correction.

Q4_1 stores ``w = d*q + m`` per block of 32. Written as

    w = d*(q - 8) + r,   r = m + 8*d

the first term is exactly what ``MatMulNBits`` computes for 4-bit data with its
default zero point 8 and scale ``d``: same bytes and same kernel as the builder's
int4. The second term is constant within each block, so its product with ``x``
needs only the block sums of ``x``:

    x @ w.T = MatMulNBits(x) + blocksum(x) @ r.T,   blocksum(x) = x @ S

with ``S`` a [K, K/32] 0/1 matrix. Both extra products are small fp32 MatMuls
(18 x 960 for a fused qkv), and inputs that feed several projections share one
blocksum. Nothing is rounded: the graph holds the GGUF's weights up to fp32
rounding of ``r``, with no fallback blocks. Compared with 8-bit blocks it reads
half the weight bytes per token, but it adds about 420 small nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.convert.gguf_source import Q41Blocks

ROUTE = "q4_1-exact-4bit-blocksum"
BLOCK = 32


@dataclass(frozen=True)
class Blocks4Sum:
    """``w[n, b*32 + j] = d[n, b] * (q[n, b, j] - 8) + r[n, b]``."""

    q: np.ndarray  # uint8 [N, K/32, 32], 0..15
    d: np.ndarray  # float32 [N, K/32]
    r: np.ndarray  # float32 [N, K/32]

    @classmethod
    def from_q4_1(cls, b: Q41Blocks) -> Blocks4Sum:
        r = b.m.astype(np.float64) + 8.0 * b.d.astype(np.float64)
        return cls(q=b.q, d=b.d.astype(np.float32), r=r.astype(np.float32))

    def packed(self) -> np.ndarray:
        """MatMulNBits' 4-bit layout: element 2i in the low nibble of byte i, 2i+1 in the high."""
        return (self.q[..., 0::2] | (self.q[..., 1::2] << 4)).astype(np.uint8)

    def dequantize(self) -> np.ndarray:
        w = self.d[..., None] * (self.q.astype(np.float32) - 8.0) + self.r[..., None]
        return w.reshape(w.shape[0], -1)


def unpack(packed: np.ndarray) -> np.ndarray:
    """Inverse of ``Blocks4Sum.packed``: [N, K/32, 16] bytes -> [N, K/32, 32] levels."""
    out = np.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), np.uint8)
    out[..., 0::2] = packed & 0x0F
    out[..., 1::2] = packed >> 4
    return out


class CorrectionWriter:
    """Rewrites ``MatMulNBits`` nodes to 4-bit + blocksum correction, sharing blocksums."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.initializers: list[Any] = []
        self._blocksum_of: dict[str, str] = {}
        self._selectors: set[str] = set()

    def rewrite(self, node: Any, blocks: Blocks4Sum, base: str) -> list[Any]:
        """Point ``node`` at ``blocks``; return the nodes to emit in its place, in order."""
        from onnx import helper, numpy_helper

        n, nb, _ = blocks.q.shape
        names = (f"{base}_Q4x", f"{base}_scales_x", f"{base}_corrT")
        self.initializers += [
            numpy_helper.from_array(blocks.packed(), names[0]),
            numpy_helper.from_array(blocks.d.astype(self.dtype), names[1]),
            numpy_helper.from_array(np.ascontiguousarray(blocks.r.T).astype(self.dtype), names[2]),
        ]
        x, y = node.input[0], node.output[0]
        del node.input[1:]
        node.input.extend(names[:2])
        for a in node.attribute:
            if a.name == "bits":
                a.i = 4
        node.output[0] = f"{y}_main"
        emitted: list[Any] = []
        if x not in self._blocksum_of:
            sums = f"{x}_blocksum"
            emitted.append(helper.make_node("MatMul", [x, self._selector(nb)], [sums], name=f"{node.name}/BlockSum"))
            self._blocksum_of[x] = sums
        emitted.append(node)
        emitted.append(helper.make_node("MatMul", [self._blocksum_of[x], names[2]], [f"{y}_corr"], name=f"{node.name}/Corr"))
        emitted.append(helper.make_node("Add", [f"{y}_main", f"{y}_corr"], [y], name=f"{node.name}/CorrAdd"))
        return emitted

    def _selector(self, nb: int) -> str:
        from onnx import numpy_helper

        name = f"blocksum_selector_{nb * BLOCK}x{nb}"
        if name not in self._selectors:
            s = np.zeros((nb * BLOCK, nb), self.dtype)
            s[np.arange(nb * BLOCK), np.arange(nb * BLOCK) // BLOCK] = 1
            self.initializers.append(numpy_helper.from_array(s, name))
            self._selectors.add(name)
        return name
