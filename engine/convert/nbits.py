"""GGUF blocks as ``MatMulNBits`` weights, plus a per-block correction where needed.

``MatMulNBits`` computes ``scale * (q - z)`` per block with its default zero point
``z`` (8 at 4 bits, 128 at 8 bits) and no zero-point tensor, its fastest path. A
GGUF block ``s * (q - zero) + offset`` is rewritten as

    s * (qk - z) + r,   qk = q + shift,   r = offset + s * (z - shift - zero)

``shift`` moves the levels into the kernel's range (0 at 4 bits; 128 minus half
the levels at 8 bits, so Q5 levels sit at 112..143). For the symmetric types
(Q4_0, Q5_0, Q8_0, Q6_K) ``r`` is 0 and the node alone is exact. For the types
with a float minimum (Q4_1, Q4_K, Q5_1, Q5_K) ``r`` is a per-block constant,
added by the block-sum correction (``engine/convert/blocksum.py``).

Exactness: ``s`` and ``qk - z`` are exact, and their product is exact in fp32
(at most 11 + 7 + 6 significant bits). ``r`` is computed in float64 and is exact
in fp32 whenever the scale and the minimum of a block are within about 2**6 of
each other, which ggml's quantizers produce; blocks where it rounds are counted
(``inexact_blocks``). When ``r`` is exact, ``fl32(s*(qk-z) + r)`` is the one
rounding ggml makes, so the effective weights equal ``gguf``'s dequantizer bit
for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.convert.gguf_blocks import Blocks

KERNEL_ZERO = {4: 8, 8: 128}
BLOCK_SIZES = (16, 32)  # the MatMulNBits block sizes used here (both checked on CPU)


@dataclass(frozen=True)
class NBitsWeight:
    """``w[n, b*B + j] = scale[n, b] * (q[n, b, j] - z) + r[n, b]``, z the default zero point."""

    q: np.ndarray  # uint8 [N, nb, B], levels in 0 .. 2**bits - 1 (unpacked)
    scale: np.ndarray  # float32 [N, nb]
    bits: int
    r: np.ndarray | None = None  # float32 [N, nb]; None: no correction needed
    inexact_blocks: int = 0  # blocks whose r rounded in fp32

    @property
    def block(self) -> int:
        return int(self.q.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, K)``."""
        return int(self.q.shape[0]), int(self.q.shape[1] * self.q.shape[2])

    def packed(self) -> np.ndarray:
        """The kernel's byte layout: 8-bit as is; 4-bit with element 2i low, 2i+1 high."""
        if self.bits == 8:
            return np.ascontiguousarray(self.q)
        return (self.q[..., 0::2] | (self.q[..., 1::2] << 4)).astype(np.uint8)

    def dequantize(self) -> np.ndarray:
        """The effective float32 ``[N, K]`` weights: node plus correction, in fp32."""
        w = self.scale[..., None] * (self.q.astype(np.float32) - np.float32(KERNEL_ZERO[self.bits]))
        if self.r is not None:
            w = w + self.r[..., None]
        return w.reshape(w.shape[0], -1)


def from_blocks(b: Blocks) -> NBitsWeight:
    """The exact ``MatMulNBits`` form of GGUF blocks (see the module docstring)."""
    bits = 4 if b.levels <= 16 else 8
    if b.levels > 256 or b.block not in BLOCK_SIZES:
        raise ValueError(f"no MatMulNBits layout for {b.levels} levels in blocks of {b.block}")
    z = KERNEL_ZERO[bits]
    shift = 0 if bits == 4 or b.levels == 256 else z - b.levels // 2
    qk = (b.q.astype(np.int16) + shift).astype(np.uint8)
    c = z - shift - b.zero
    if b.offset is None and c == 0:
        return NBitsWeight(q=qk, scale=b.scale.astype(np.float32), bits=bits)
    r64 = b.scale.astype(np.float64) * c
    if b.offset is not None:
        r64 = r64 + b.offset.astype(np.float64)
    r = r64.astype(np.float32)
    inexact = int(np.count_nonzero(r.astype(np.float64) != r64))
    return NBitsWeight(q=qk, scale=b.scale.astype(np.float32), bits=bits, r=r, inexact_blocks=inexact)


def promote(w: NBitsWeight, bits: int, block: int, with_r: bool) -> NBitsWeight:
    """The same weights at ``bits`` (>= w.bits) in blocks of ``block`` (dividing w.block).

    Exact: 4-bit levels move up by 120 to sit around 128, a block splits into
    smaller ones that repeat its scale and correction, and a missing correction
    becomes zeros.
    """
    if bits < w.bits or w.block % block:
        raise ValueError(f"cannot promote {w.bits}-bit blocks of {w.block} to {bits}-bit blocks of {block}")
    q = w.q if bits == w.bits else (w.q.astype(np.int16) + KERNEL_ZERO[bits] - KERNEL_ZERO[w.bits]).astype(np.uint8)
    split = w.block // block
    n, nb = w.scale.shape
    q = q.reshape(n, nb * split, block)
    scale = np.repeat(w.scale, split, axis=1)
    r = w.r if w.r is not None else (np.zeros_like(w.scale) if with_r else None)
    if r is not None:
        r = np.repeat(r, split, axis=1)
    return NBitsWeight(q=q, scale=scale, bits=bits, r=r, inexact_blocks=w.inexact_blocks * split)


def stack(parts: list[NBitsWeight]) -> NBitsWeight:
    """Stack weights along N (a fused q/k/v) in the widest layout any part needs."""
    if len(parts) == 1:
        return parts[0]
    bits = max(p.bits for p in parts)
    block = min(p.block for p in parts)
    with_r = any(p.r is not None for p in parts)
    same = [promote(p, bits, block, with_r) for p in parts]
    r = np.concatenate([p.r for p in same if p.r is not None]) if with_r else None
    return NBitsWeight(
        q=np.concatenate([p.q for p in same]),
        scale=np.concatenate([p.scale for p in same]),
        bits=bits,
        r=r,
        inexact_blocks=sum(p.inexact_blocks for p in same),
    )


def unpack(packed: np.ndarray, bits: int, block: int) -> np.ndarray:
    """Inverse of ``NBitsWeight.packed``: bytes ``[N, nb, *]`` -> levels ``[N, nb, block]``."""
    if bits == 8:
        return packed.reshape(packed.shape[0], -1, block)
    packed = packed.reshape(packed.shape[0], -1, block // 2)
    out = np.empty(packed.shape[:-1] + (block,), np.uint8)
    out[..., 0::2] = packed & 0x0F
    out[..., 1::2] = packed >> 4
    return out
