"""Decode a GGUF tensor's raw bytes into integer levels, scales and minimums.

Every integer-grid GGUF type writes a weight as

    w[n, b*B + j] = scale[n, b] * (q[n, b, j] - zero) + offset[n, b]

with ``q`` small non-negative integers, ``zero`` a constant integer, ``scale`` a
float per block of ``B`` elements and ``offset`` a float per block (absent for
the symmetric types). The K-quants' super-block scale is folded in here: a
Q4_K sub-block's scale is ``d * sc`` (an fp16 times a 6-bit integer, exact in
fp32) and its offset ``-dmin * m``. ``gguf.quants.dequantize`` stays the
reference; tests check these decoders against it bit for bit.

The byte layouts follow ``gguf.quants`` (and ggml-quants.c) block by block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

QK_K = 256  # elements per K-quant super-block


@dataclass(frozen=True)
class Blocks:
    """One GGUF matrix as integer blocks; see the module docstring for the formula."""

    q: np.ndarray  # uint8 [N, nb, B], 0 <= q < levels
    scale: np.ndarray  # float32 [N, nb]
    zero: int
    levels: int  # 2**bits of the format: 16, 32, 64 or 256
    offset: np.ndarray | None = None  # float32 [N, nb]; None means 0

    @property
    def block(self) -> int:
        return int(self.q.shape[2])

    def dequantize(self) -> np.ndarray:
        """Float32 ``[N, K]``, rounded once as ggml rounds (products are exact)."""
        w = self.scale[..., None] * (self.q.astype(np.float32) - np.float32(self.zero))
        if self.offset is not None:
            w = w + self.offset[..., None]
        return w.reshape(w.shape[0], -1)


def _f16(raw: np.ndarray) -> np.ndarray:
    """Two bytes per entry along the last axis -> float32."""
    return raw.copy().view(np.float16)[..., 0].astype(np.float32)


def _nibbles_half_split(qs: np.ndarray) -> np.ndarray:
    """Q4_0/Q4_1/Q5 layout: byte i holds element i (low nibble) and i+16 (high)."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _high_bits(qh: np.ndarray) -> np.ndarray:
    """Q5_0/Q5_1: a little-endian uint32 whose bit j is element j's fifth bit."""
    bits = np.unpackbits(qh, axis=-1, bitorder="little")  # [.., 32]
    return bits << 4


def _q4_0(raw: np.ndarray) -> Blocks:
    return Blocks(q=_nibbles_half_split(raw[..., 2:18]), scale=_f16(raw[..., 0:2]), zero=8, levels=16)


def _q4_1(raw: np.ndarray) -> Blocks:
    q = _nibbles_half_split(raw[..., 4:20])
    return Blocks(q=q, scale=_f16(raw[..., 0:2]), zero=0, levels=16, offset=_f16(raw[..., 2:4]))


def _q5_0(raw: np.ndarray) -> Blocks:
    q = _nibbles_half_split(raw[..., 6:22]) | _high_bits(raw[..., 2:6])
    return Blocks(q=q, scale=_f16(raw[..., 0:2]), zero=16, levels=32)


def _q5_1(raw: np.ndarray) -> Blocks:
    q = _nibbles_half_split(raw[..., 8:24]) | _high_bits(raw[..., 4:8])
    return Blocks(q=q, scale=_f16(raw[..., 0:2]), zero=0, levels=32, offset=_f16(raw[..., 2:4]))


def _q8_0(raw: np.ndarray) -> Blocks:
    q = (raw[..., 2:34].copy().view(np.int8).astype(np.int16) + 128).astype(np.uint8)
    return Blocks(q=q, scale=_f16(raw[..., 0:2]), zero=128, levels=256)


def _k_scale_min(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The eight 6-bit scales and mins packed in 12 bytes (Q4_K, Q5_K)."""
    s = scales.reshape(*scales.shape[:-1], 3, 4)
    d, m, m_d = s[..., 0, :], s[..., 1, :], s[..., 2, :]
    sc = np.concatenate([d & 0x3F, (m_d & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    mn = np.concatenate([m & 0x3F, (m_d >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return sc, mn


def _k_nibbles(qs: np.ndarray) -> np.ndarray:
    """Q4_K/Q5_K: each 32 bytes hold sub-block 2j (low nibbles) and 2j+1 (high)."""
    g = qs.reshape(*qs.shape[:-1], 4, 1, 32)
    return np.concatenate([g & 0x0F, g >> 4], axis=-2).reshape(*qs.shape[:-1], 8, 32)


def _k_scales(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Folded sub-block scales ``d*sc`` and offsets ``-dmin*m``, both exact in fp32."""
    d, dmin = _f16(raw[..., 0:2]), _f16(raw[..., 2:4])
    sc, mn = _k_scale_min(raw[..., 4:16])
    return d[..., None] * sc.astype(np.float32), -(dmin[..., None] * mn.astype(np.float32))


def _q4_k(raw: np.ndarray) -> Blocks:
    scale, offset = _k_scales(raw)
    q = _k_nibbles(raw[..., 16:144])
    return _flatten_super(Blocks(q=q, scale=scale, zero=0, levels=16, offset=offset))


def _q5_k(raw: np.ndarray) -> Blocks:
    scale, offset = _k_scales(raw)
    qh = raw[..., 16:48]
    high = (qh[..., None, :] >> np.arange(8, dtype=np.uint8)[:, None]) & 1  # bit i -> sub-block i
    q = _k_nibbles(raw[..., 48:176]) | (high << 4)
    return _flatten_super(Blocks(q=q, scale=scale, zero=0, levels=32, offset=offset))


def _q6_k(raw: np.ndarray) -> Blocks:
    ql, qh = raw[..., 0:128], raw[..., 128:192]
    sc = raw[..., 192:208].copy().view(np.int8).astype(np.float32)
    d = _f16(raw[..., 208:210])
    lead = ql.shape[:-1]
    low = ql.reshape(*lead, 2, 1, 64) >> np.array([0, 4], np.uint8)[:, None]
    low = (low & 0x0F).reshape(*lead, 8, 32)
    high = qh.reshape(*lead, 2, 1, 32) >> np.array([0, 2, 4, 6], np.uint8)[:, None]
    high = (high & 0x03).reshape(*lead, 8, 32)
    q = (low | (high << 4)).reshape(*lead, 16, 16)
    return _flatten_super(Blocks(q=q, scale=d[..., None] * sc, zero=32, levels=64))


def _flatten_super(b: Blocks) -> Blocks:
    """[N, supers, subs, B] -> [N, supers*subs, B]."""
    n = b.q.shape[0]
    flat = Blocks(
        q=b.q.reshape(n, -1, b.q.shape[-1]),
        scale=b.scale.reshape(n, -1),
        zero=b.zero,
        levels=b.levels,
        offset=None if b.offset is None else b.offset.reshape(n, -1),
    )
    return flat


# type name -> (bytes per block, elements per block, decoder)
DECODERS: dict[str, tuple[int, int, Callable[[np.ndarray], Blocks]]] = {
    "Q4_0": (18, 32, _q4_0),
    "Q4_1": (20, 32, _q4_1),
    "Q5_0": (22, 32, _q5_0),
    "Q5_1": (24, 32, _q5_1),
    "Q8_0": (34, 32, _q8_0),
    "Q4_K": (144, QK_K, _q4_k),
    "Q5_K": (176, QK_K, _q5_k),
    "Q6_K": (210, QK_K, _q6_k),
}
FLOAT_TYPES = ("F32", "F16", "BF16")


def decode(raw: np.ndarray, type_name: str) -> Blocks:
    """Decode ``raw`` (uint8 ``[N, bytes per row]``, as ``GGUFReader`` gives it).

    Raises:
        KeyError: ``type_name`` has no integer-grid decoder here.
    """
    block_bytes, _, fn = DECODERS[type_name]
    data = np.ascontiguousarray(raw, dtype=np.uint8)
    return fn(data.reshape(data.shape[0], -1, block_bytes))
