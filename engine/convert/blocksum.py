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

The same side product also carries the outlier channels that skip the int8
activations (``CorrectionWriter``), so those cost no extra MatMul where a node
already has a correction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.convert.nbits import KERNEL_ZERO, NBitsWeight

ROUTE = "q4_1-exact-4bit-blocksum"  # the name the Q4_1-only route recorded before per-tensor routes


class CorrectionWriter:
    """Points ``MatMulNBits`` nodes at exact weights, adding the fp32 side product where needed.

    The side product of a node carries its block minimum (``r``, through block
    sums) and its outlier channels (``engine/convert/outlier_channels.py``,
    through those channels' own weights) in one ``MatMul`` pair:

        x @ w.T = MatMulNBits(x * mask) + (x @ [S | P]) @ [r.T ; w_main[:, C].T]

    with ``P`` the [K, C] 0/1 matrix that picks the channels ``C``.
    """

    def __init__(self, dtype: np.dtype[Any], outliers: dict[str, np.ndarray] | None = None) -> None:
        self.dtype = dtype
        self.outliers = outliers or {}
        self.initializers: list[Any] = []
        self.correction_nodes = 0
        self._side_of: dict[tuple[str, int], str] = {}
        self._masked: dict[str, str] = {}
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
        x, y = node.input[0], node.output[0]
        channels = self.outliers.get(x)
        rows = [] if w.r is None else [w.r.T]
        if channels is not None:
            rows.append(_main_columns(w, channels).T)
        if not rows:
            return [node]
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(np.concatenate(rows)).astype(self.dtype), names[2]))
        node.output[0] = f"{y}_main"
        emitted: list[Any] = []
        if channels is not None:
            node.input[0] = self._mask(x, w.shape[1], channels, emitted, node.name)
        block = 0 if w.r is None else w.block
        if (x, block) not in self._side_of:
            side = f"{x}_side{block}"
            selector = self._selector(x, w.shape[1], block, channels)
            emitted.append(helper.make_node("MatMul", [x, selector], [side], name=f"{node.name}/BlockSum"))
            self._side_of[(x, block)] = side
        emitted.append(node)
        emitted.append(helper.make_node("MatMul", [self._side_of[(x, block)], names[2]], [f"{y}_corr"], name=f"{node.name}/Corr"))
        emitted.append(helper.make_node("Add", [f"{y}_main", f"{y}_corr"], [y], name=f"{node.name}/CorrAdd"))
        self.correction_nodes += len(emitted) - 1
        return emitted

    def fp32_channels(self) -> dict[str, int]:
        """For hearth.json: how many inputs route channels around int8, and how many each."""
        if not self._masked:
            return {}
        return {"inputs": len(self._masked), "channels_per_input": max(len(c) for c in self.outliers.values())}

    def _mask(self, x: str, k: int, channels: np.ndarray, emitted: list[Any], node_name: str) -> str:
        """``x`` with ``channels`` zeroed, made once per input."""
        from onnx import helper, numpy_helper

        if x not in self._masked:
            mask = np.ones(k, self.dtype)
            mask[channels] = 0
            self.initializers.append(numpy_helper.from_array(mask, f"{x}_outlier_mask"))
            emitted.append(helper.make_node("Mul", [x, f"{x}_outlier_mask"], [f"{x}_masked"], name=f"{node_name}/OutlierMask"))
            self._masked[x] = f"{x}_masked"
        return self._masked[x]

    def _selector(self, x: str, k: int, block: int, channels: np.ndarray | None) -> str:
        """``[S | P]``: block sums (blocks of ``block``; none when 0), then the outlier channels."""
        from onnx import numpy_helper

        # Without channels the selector depends only on the shape, so inputs share it.
        name = f"{x}_side_selector{block}" if channels is not None else f"blocksum_selector_{k}x{k // block}"
        if name in self._selectors:
            return name
        self._selectors.add(name)
        parts = []
        if block:
            s = np.zeros((k, k // block), self.dtype)
            s[np.arange(k), np.arange(k) // block] = 1
            parts.append(s)
        if channels is not None:
            p = np.zeros((k, len(channels)), self.dtype)
            p[channels, np.arange(len(channels))] = 1
            parts.append(p)
        self.initializers.append(numpy_helper.from_array(np.concatenate(parts, axis=1), name))
        return name


def _main_columns(w: NBitsWeight, channels: np.ndarray) -> np.ndarray:
    """``[N, C]``: the ``MatMulNBits`` part of ``w`` (no ``r``) at input channels ``channels``."""
    blocks, within = channels // w.block, channels % w.block
    q = w.q[:, blocks, within].astype(np.float32) - np.float32(KERNEL_ZERO[w.bits])
    return w.scale[:, blocks] * q


def _set_attr(node: Any, name: str, value: int) -> None:
    import onnx

    for a in node.attribute:
        if a.name == name:
            a.i = value
            return
    node.attribute.append(onnx.helper.make_attribute(name, value))
