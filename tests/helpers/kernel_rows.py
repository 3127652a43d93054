"""Whether this CPU's ONNX Runtime kernels give a row in a batch bit for bit what they give it alone.

On CPUs with AVX-512 they do, and batched decoding then repeats a lone sequence's
greedy ids exactly. On an AVX2-only CPU (AMD EPYC, seen here) a 4-bit
``MatMulNBits`` rounds a batched row 2e-7 differently, and the default model's int8
activations grow that into different greedy ids after a few dozen tokens. Tests
that compare batched ids with lone ones ask this first.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def kernels_round_rows_as_alone() -> bool:
    """Does a 4-bit and an 8-bit ``MatMulNBits`` (accuracy_level 4) give a row in a batch of 4 bit for bit as alone?"""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    k, n = 576, 960
    for bits in (4, 8):
        data = rng.integers(0, 256, (n, k // 32, 32 * bits // 8), dtype=np.uint8)
        scales = rng.uniform(1e-3, 1e-2, n * k // 32).astype(np.float32)
        node = helper.make_node("MatMulNBits", ["x", "w", "s"], ["y"], domain="com.microsoft", K=k, N=n,
                                bits=bits, block_size=32, accuracy_level=4)  # fmt: skip
        graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, k])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                                  [numpy_helper.from_array(data, "w"), numpy_helper.from_array(scales, "s")])  # fmt: skip
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(helper.make_model(graph, opset_imports=opsets, ir_version=9).SerializeToString(),
                                       options, providers=["CPUExecutionProvider"])  # fmt: skip
        x = rng.standard_normal((4, 1, k)).astype(np.float32)
        together = session.run(None, {"x": x})[0]
        if not all(np.array_equal(together[i], session.run(None, {"x": x[i : i + 1]})[0][0]) for i in range(4)):
            return False
    return True
