"""Each GGUF tensor type's route onto MatMulNBits, checked against gguf's own dequantizer.

The reference is ``gguf.quants.dequantize`` (the same code transformers loads
GGUF files with). Types the ``gguf`` package can quantize are made from random
floats; K-quants, which it can only read, are random blocks with sane fp16
super-block scales.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.convert import gguf_blocks, nbits
from engine.convert.blocksum import CorrectionWriter
from engine.convert.exact_graph import type_route

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType, quants  # noqa: E402

QUANTIZABLE = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0")
K_QUANTS = ("Q4_K", "Q5_K", "Q6_K")
EXPECTED_LAYOUT = {  # type -> (bits, block, correction)
    "Q4_0": (4, 32, False), "Q4_1": (4, 32, True), "Q5_0": (8, 32, False), "Q5_1": (8, 32, True),
    "Q8_0": (8, 32, False), "Q4_K": (4, 32, True), "Q5_K": (8, 32, True), "Q6_K": (8, 16, False),
}  # fmt: skip


def random_tensor(type_name: str, n: int, k: int, seed: int = 0) -> np.ndarray:
    """Raw GGUF bytes ``[n, bytes per row]`` of a random ``n x k`` matrix of ``type_name``."""
    rng = np.random.default_rng(seed)
    if type_name in QUANTIZABLE:
        w = rng.standard_normal((n, k)).astype(np.float32) * 0.05
        w[:, :32] += 0.03  # a block whose minimum is far from zero
        return quants.quantize(w, GGMLQuantizationType[type_name])
    block_bytes, block, _ = gguf_blocks.DECODERS[type_name]
    raw = rng.integers(0, 256, (n, k // block, block_bytes), dtype=np.uint8)

    def f16(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, (n, k // block)).astype(np.float16)[..., None].view(np.uint8)

    if type_name == "Q6_K":
        raw[..., 208:210] = f16(2e-4, 2e-3)
    else:  # d, then dmin scaled so sub-block minimums centre the weights
        raw[..., 0:2] = f16(1e-4, 1e-3)
        raw[..., 2:4] = f16(7.5e-4, 7.5e-3) if type_name == "Q4_K" else f16(1.5e-3, 1.5e-2)
    return raw.reshape(n, -1)


@pytest.mark.parametrize("type_name", QUANTIZABLE + K_QUANTS)
def test_type_maps_bit_exactly(type_name: str) -> None:
    raw = random_tensor(type_name, 24, 512)
    want = quants.dequantize(raw, GGMLQuantizationType[type_name])
    blocks = gguf_blocks.decode(raw, type_name)
    assert np.array_equal(blocks.dequantize(), want)
    w = nbits.from_blocks(blocks)
    assert (w.bits, w.block, w.r is not None) == EXPECTED_LAYOUT[type_name]
    assert w.inexact_blocks == 0
    assert np.array_equal(w.dequantize(), want)  # bit-exact in fp32: one rounding, as ggml's
    assert np.array_equal(nbits.unpack(w.packed(), w.bits, w.block), w.q)


def test_mixed_fused_projection_is_exact() -> None:
    """A fused q/k/v of Q4_K, Q4_K and Q6_K is stored at 8 bits in blocks of 16, exactly."""
    parts = [random_tensor(t, 16, 256, seed=i) for i, t in enumerate(("Q4_K", "Q4_K", "Q6_K"))]
    types = ("Q4_K", "Q4_K", "Q6_K")
    stacked = nbits.stack([nbits.from_blocks(gguf_blocks.decode(p, t)) for p, t in zip(parts, types)])
    want = np.concatenate([quants.dequantize(p, GGMLQuantizationType[t]) for p, t in zip(parts, types)])
    assert (stacked.bits, stacked.block) == (8, 16) and stacked.r is not None
    assert np.array_equal(stacked.dequantize(), want)


OUTLIERS = np.array([5, 40, 41, 300], np.int64)  # channels the side product carries in fp32


def _route_session(raw: np.ndarray, type_name: str, accuracy_level: int, outliers: bool) -> tuple[object, object]:
    """An onnxruntime session of one projection written by ``CorrectionWriter``, and its model."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    n, k = raw.shape[0], 512
    w = nbits.from_blocks(gguf_blocks.decode(raw, type_name))
    node = helper.make_node("MatMulNBits", ["x", "w", "s"], ["y"], name="/p/MatMul", domain="com.microsoft",
                            K=k, N=n, bits=4, block_size=32, accuracy_level=accuracy_level)  # fmt: skip
    writer = CorrectionWriter(np.dtype(np.float32), {"x": OUTLIERS} if outliers else None)
    nodes = writer.rewrite(node, w, "p")
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], writer.initializers,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, ir_version=9, opset_imports=opsets)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), model


@pytest.mark.parametrize("outliers", [False, True], ids=["plain", "outlier-channels"])
@pytest.mark.parametrize("type_name", QUANTIZABLE + K_QUANTS)
def test_route_runs_in_onnxruntime(type_name: str, outliers: bool) -> None:
    """MatMulNBits (bits 4 or 8, blocks of 16 or 32) plus side product gives x @ w.T on CPU.

    At accuracy_level 1 the kernel works in fp32, so only summation order
    differs from a float64 reference: the tolerance is fp32 rounding over K=512.
    The effective weights read back from the graph equal gguf's bit for bit.
    """
    from engine.convert.exact_check import effective_weights

    raw = random_tensor(type_name, 24, 512, seed=3)
    reference = quants.dequantize(raw, GGMLQuantizationType[type_name])
    session, model = _route_session(raw, type_name, accuracy_level=1, outliers=outliers)
    x = np.random.default_rng(4).standard_normal((1, 3, 512)).astype(np.float32)
    (y,) = session.run(None, {"x": x})
    want = x.astype(np.float64) @ reference.T.astype(np.float64)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert np.array_equal(effective_weights(model)["/p/MatMul"], reference)


@pytest.mark.parametrize("type_name", ("Q4_1", "Q5_0", "Q8_0"))
def test_outlier_channels_shrink_the_int8_error(type_name: str) -> None:
    """At accuracy_level 4, channels 30x larger than the rest cost accuracy unless routed around int8."""
    raw = random_tensor(type_name, 24, 512, seed=5)
    reference = quants.dequantize(raw, GGMLQuantizationType[type_name]).astype(np.float64)
    x = np.random.default_rng(6).standard_normal((1, 16, 512)).astype(np.float32)
    x[..., OUTLIERS] *= 30.0
    want = x.astype(np.float64) @ reference.T

    def error(outliers: bool) -> float:
        (y,) = _route_session(raw, type_name, accuracy_level=4, outliers=outliers)[0].run(None, {"x": x})
        return float(np.linalg.norm(y - want) / np.linalg.norm(want))

    plain, routed = error(False), error(True)
    assert routed < plain / 3, (plain, routed)


def test_route_table() -> None:
    assert type_route("F16") == type_route("BF16") == type_route("F32") == "fp32 MatMul, as is"
    assert type_route("Q6_K") == "8-bit blocks of 16"
    assert type_route("Q4_K") == "4-bit blocks of 32 + block-sum correction"
    assert type_route("IQ2_XS") is None and type_route("Q2_K") is None  # re-quantized


def test_readme_table_matches_the_code() -> None:
    from pathlib import Path

    from engine.convert.support_table import BEGIN, END, render

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == render(), "regenerate with: python -m engine.convert.support_table"
