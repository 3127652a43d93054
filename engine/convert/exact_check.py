"""Read back the weights a converted graph multiplies by, and compare them with the GGUF.

``effective_weights`` undoes what ``exact_graph.apply`` wrote (node plus
correction, or the fp32 MatMul); ``verify`` compares the result with ``gguf``'s
own dequantizer, the independent reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.convert import exact_graph, nbits
from engine.convert.gguf_source import GGUFSource, unpermute_rotary
from engine.convert.nbits import NBitsWeight


def effective_weights(model: Any) -> dict[str, np.ndarray]:
    """Float32 ``[N, K]`` weights of every projection node, by node name.

    A node's weight is its ``MatMulNBits`` part, with any outlier channels masked
    out of its input, plus what its side product adds back:
    ``w_main * mask + (selector @ side_weights).T`` (``engine/convert/blocksum.py``).

    Args:
        model: An ``onnx.ModelProto`` with its weights loaded.
    """
    from onnx import helper, numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    corr = {n.name[: -len("/Corr")]: n for n in model.graph.node if n.name.endswith("/Corr")}
    out: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1].endswith("_f32T"):
            out[node.name] = inits[node.input[1]].T
            continue
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        bits, block, n = attrs["bits"], attrs["block_size"], attrs["N"]
        if len(node.input) > 3 and node.input[3]:
            raise ValueError(f"{node.name} has a zero-point tensor; only default zero points are read here")
        q = nbits.unpack(inits[node.input[1]], bits, block)
        scale = inits[node.input[2]].astype(np.float32).reshape(n, -1)
        w = NBitsWeight(q=q, scale=scale, bits=bits).dequantize()
        masking = producer.get(node.input[0])
        if masking is not None and masking.op_type == "Mul" and masking.input[1] in inits:
            w = w * inits[masking.input[1]]
        if node.name in corr:
            side = corr[node.name]
            selector = inits[producer[side.input[0]].input[1]].astype(np.float32)
            w = w + (selector @ inits[side.input[1]].astype(np.float32)).T
        out[node.name] = w
    return out


def verify(src: GGUFSource, model_dir: Path) -> dict[str, Any]:
    """Compare every carried projection with ``gguf``'s dequantizer.

    Returns:
        ``nodes`` compared, ``bit_exact`` among them, ``max_abs_error`` and
        ``skipped`` (nodes left re-quantized).
    """
    import onnx

    model = onnx.load(str(model_dir / "model.onnx"), load_external_data=True)
    requantized = set()
    compared, exact, worst = 0, 0, 0.0
    for name, got in effective_weights(model).items():
        parts = exact_graph.node_sources(src, name)
        if parts is None or any(exact_graph.type_route(src.tensor_type(p.name)) is None for p in parts):
            requantized.add(name)
            continue
        want = np.concatenate([_ref(src, p) for p in parts])
        compared += 1
        exact += int(np.array_equal(got, want))
        worst = max(worst, float(np.abs(got - want).max()))
    return {"nodes": compared, "bit_exact": exact, "max_abs_error": worst, "skipped": sorted(requantized)}


def _ref(src: GGUFSource, part: exact_graph.TensorRows) -> np.ndarray:
    """The part's rows of the whole tensor as ``gguf`` dequantizes it (cut after, not before)."""
    w = src.dequantized(part.name)[part.start : part.stop]
    return unpermute_rotary(w, part.heads) if part.heads else w
