"""The per-block correction that carries a GGUF block's float minimum exactly.

A block ``w = s*(qk - z) + r`` (``engine/convert/nbits.py``) splits into what
``MatMulNBits`` computes with its default zero point, ``s*(qk - z)``, and a term
``r`` that is constant within each block. Its product with ``x`` needs only the
block sums of ``x``:

    x @ w.T = MatMulNBits(x) + blocksum(x) @ r.T,   blocksum(x) = x @ S

with ``S`` a [K, K/B] 0/1 matrix. Both extra products are small fp32 MatMuls
(18 x 960 for a fused qkv in blocks of 32), and inputs that feed several
projections share one blocksum. Nothing is rounded beyond ``r`` itself.
Compared with 8-bit blocks it reads half the weight bytes per token for the
4-bit types, at about 3 small nodes per projection.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.convert.nbits import NBitsWeight

ROUTE = "q4_1-exact-4bit-blocksum"  # the name the Q4_1-only route recorded before per-tensor routes


class CorrectionWriter:
    """Points ``MatMulNBits`` nodes at exact weights, adding blocksum corrections."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.initializers: list[Any] = []
        self.correction_nodes = 0
        self._blocksum_of: dict[tuple[str, int], str] = {}
        self._selectors: set[str] = set()

    def rewrite(self, node: Any, w: NBitsWeight, base: str) -> list[Any]:
        """Point ``node`` at ``w``; return the nodes to emit in its place, in order."""
        from onnx import helper, numpy_helper

        names = (f"{base}_q{w.bits}b{w.block}", f"{base}_scales_b{w.block}", f"{base}_corrT")
        self.initializers += [
            numpy_helper.from_array(w.packed(), names[0]),
            numpy_helper.from_array(w.scale.astype(self.dtype), names[1]),
        ]
        del node.input[1:]
        node.input.extend(names[:2])
        _set_attr(node, "bits", w.bits)
        _set_attr(node, "block_size", w.block)
        if w.r is None:
            return [node]
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(w.r.T).astype(self.dtype), names[2]))
        x, y = node.input[0], node.output[0]
        node.output[0] = f"{y}_main"
        emitted: list[Any] = []
        key = (x, w.block)
        if key not in self._blocksum_of:
            sums = f"{x}_blocksum{w.block}"
            selector = self._selector(w.shape[1], w.block)
            emitted.append(helper.make_node("MatMul", [x, selector], [sums], name=f"{node.name}/BlockSum"))
            self._blocksum_of[key] = sums
        emitted.append(node)
        emitted.append(helper.make_node("MatMul", [self._blocksum_of[key], names[2]], [f"{y}_corr"], name=f"{node.name}/Corr"))
        emitted.append(helper.make_node("Add", [f"{y}_main", f"{y}_corr"], [y], name=f"{node.name}/CorrAdd"))
        self.correction_nodes += len(emitted) - 1
        return emitted

    def _selector(self, k: int, block: int) -> str:
        from onnx import numpy_helper

        name = f"blocksum_selector_{k}x{k // block}"
        if name not in self._selectors:
            s = np.zeros((k, k // block), self.dtype)
            s[np.arange(k), np.arange(k) // block] = 1
            self.initializers.append(numpy_helper.from_array(s, name))
            self._selectors.add(name)
        return name


def _set_attr(node: Any, name: str, value: int) -> None:
    import onnx

    for a in node.attribute:
        if a.name == name:
            a.i = value
            return
    node.attribute.append(onnx.helper.make_attribute(name, value))
