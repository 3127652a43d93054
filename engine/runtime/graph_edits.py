"""Load-time edits to a decoder graph: fewer logits, argmax in the graph, tied weights viewed.

Each edit returns whether it changed the graph, and leaves alone a graph it does not
recognise or has already edited.
"""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.runtime.graph import ARGMAX_OUTPUT, POSITIONS_INPUT, logits_seq_dim


def logits_for_trailing_positions(model: onnx.ModelProto) -> bool:
    """Compute lm_head only for the last k positions, k being the input ``hearth_logits_positions``.

    Decode and prefill ask for k = 1, which skips S-1 rows of the largest matmul (and
    their 49152-wide logits). Verifying drafted tokens and scoring text ask for more.
    """
    graph = model.graph
    if logits_seq_dim(graph) == 1 or any(i.name == POSITIONS_INPUT for i in graph.input):
        return False
    hidden = _head_input(graph)
    if hidden is None:
        return False
    graph.input.append(helper.make_tensor_value_info(POSITIONS_INPUT, TensorProto.INT64, [1]))
    ends = helper.make_tensor("/hearth/positions_end", TensorProto.INT64, [1], [2**62])
    axis = helper.make_tensor("/hearth/positions_axis", TensorProto.INT64, [1], [1])
    graph.initializer.extend([ends, axis])
    starts, trailing = "/hearth/positions_start", "/hearth/trailing_hidden"
    nodes = [
        helper.make_node("Neg", [POSITIONS_INPUT], [starts], name="/hearth/PositionsStart"),
        helper.make_node("Slice", [hidden, starts, ends.name, axis.name], [trailing],
                         name="/hearth/TrailingPositions"),
    ]  # fmt: skip
    readers = [n for n in graph.node if hidden in n.input]
    at = min(list(graph.node).index(n) for n in readers)
    for offset, node in enumerate(nodes):
        graph.node.insert(at + offset, node)
    for reader in readers:
        reader.input[list(reader.input).index(hidden)] = trailing
    out = next(o for o in graph.output if o.name == "logits")
    out.type.tensor_type.shape.dim[1].dim_param = "logits_positions"
    return True


def _head_input(graph: onnx.GraphProto) -> str | None:
    """The hidden state lm_head reads, or None for a head this edit does not know.

    A plain head is one ``MatMul``/``MatMulNBits`` producing ``logits``. An exact GGUF
    head (engine/convert/blocksum.py) adds an fp32 side product to it, and may read
    its input through a channel mask: every branch then reads the same hidden
    state, which is what gets sliced.
    """
    producer = {o: n for n in graph.node for o in n.output}
    head = producer.get("logits")
    if head is not None and head.op_type == "Add":
        head = producer.get(head.input[0])
    if head is None or head.op_type not in ("MatMul", "MatMulNBits"):
        return None
    hidden = head.input[0]
    masking = producer.get(hidden)
    weights = {i.name for i in graph.initializer}
    if masking is not None and masking.op_type == "Mul" and masking.input[1] in weights:
        hidden = masking.input[0]
    return hidden


def add_argmax_output(model: onnx.ModelProto) -> bool:
    """Also output each logits row's argmax, computed while the logits are still in cache.

    Greedy decoding then reads one integer instead of scanning the vocabulary in
    Python. Only for graphs whose logits cover the trailing positions alone.
    """
    graph = model.graph
    trailing = logits_seq_dim(graph) == 1 or any(i.name == POSITIONS_INPUT for i in graph.input)
    if not trailing or any(o.name == ARGMAX_OUTPUT for o in graph.output):
        return False
    graph.node.append(helper.make_node("ArgMax", ["logits"], [ARGMAX_OUTPUT], name="/hearth/ArgMax", axis=-1, keepdims=0))
    graph.output.append(helper.make_tensor_value_info(ARGMAX_OUTPUT, TensorProto.INT64, ["batch_size", "logits_positions"]))
    return True


def alias_reshaped_weights(model: onnx.ModelProto) -> int:
    """Turn ``Reshape(weight, constant shape)`` into a second view of the same bytes on disk.

    The GenAI builder ties the embedding to lm_head through such a Reshape. Left
    alone, ONNX Runtime either folds it into a reshaped copy of the weight (28 MB
    more for SmolLM2's 8-bit head) or runs it on every token. An external
    initializer can instead name the same file range with the new dimensions.

    Returns:
        How many Reshape nodes were replaced.
    """
    graph = model.graph
    weights = {init.name: init for init in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    replaced = 0
    for node in list(graph.node):
        weight = weights.get(node.input[0]) if node.op_type == "Reshape" else None
        if weight is None or weight.data_location != TensorProto.EXTERNAL:
            continue
        shape = _constant_ints(node.input[1], weights, constants)
        if shape is None or any(d <= 0 for d in shape) or math.prod(shape) != math.prod(weight.dims):
            continue
        alias = TensorProto()
        alias.CopyFrom(weight)
        alias.name = node.output[0]
        del alias.dims[:]
        alias.dims.extend(shape)
        graph.initializer.append(alias)
        graph.node.remove(node)
        replaced += 1
    return replaced


def _constant_ints(name: str, weights: dict, constants: dict) -> list[int] | None:
    if name in weights:
        tensor = weights[name]
    elif name in constants:
        tensor = next((a.t for a in constants[name].attribute if a.name == "value"), None)
    else:
        return None
    if tensor is None or tensor.data_location == TensorProto.EXTERNAL:
        return None
    return [int(v) for v in numpy_helper.to_array(tensor).reshape(-1)]
