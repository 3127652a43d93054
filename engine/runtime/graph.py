"""Read an ONNX decoder graph and decide how to drive it.

The engine does not trust folder names: it looks at the graph's inputs, outputs,
attention op and weights, and returns a ``GraphSpec`` the runner follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from engine.core.errors import ModelLoadError, UnsupportedModelError

_PAST_RE = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")
_PRESENT_RE = re.compile(r"^present\.(\d+)\.(key|value)$")
_KNOWN_INPUTS = {"input_ids", "attention_mask", "position_ids"}
ARGMAX_OUTPUT = "hearth_argmax"
POSITIONS_INPUT = "hearth_logits_positions"
_FLOAT_TYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16"}


@dataclass(frozen=True)
class GraphSpec:
    """How to feed one decoder graph."""

    num_layers: int
    kv_heads: int
    head_size: int
    kv_dtype: str
    shares_kv_buffer: bool
    has_position_ids: bool
    has_attention_mask: bool
    logits_last_only: bool  # lm_head runs on the trailing positions only, not the whole input
    positions_input: bool  # how many trailing positions get logits is an input (graph_edits)
    precision: str
    weight_count: int


def load_graph(path: Path) -> onnx.ModelProto:
    """Load the graph structure only; weights stay in their external files."""
    try:
        return onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise ModelLoadError(f"The model file {path} is missing.") from None
    except Exception as exc:  # protobuf raises several unrelated types
        raise ModelLoadError(
            f"{path.name} is not a readable ONNX file ({exc.__class__.__name__}). "
            "The download or conversion may have been cut short: convert or copy the model again."
        ) from None


def inspect_graph(model: onnx.ModelProto, head_size_hint: int = 0) -> GraphSpec:
    """Work out layers, KV shape, attention kind and precision from the graph.

    Args:
        model: the graph, loaded without its weights.
        head_size_hint: the head size from the model's config, for graphs that
            leave the KV cache's last dimension symbolic.
    """
    graph = model.graph
    inputs = {i.name: i for i in graph.input}
    outputs = {o.name for o in graph.output}
    past = {n for n in inputs if _PAST_RE.match(n)}
    unknown = sorted(set(inputs) - past - _KNOWN_INPUTS - {POSITIONS_INPUT})
    if unknown or "input_ids" not in inputs:
        raise UnsupportedModelError(
            "This graph's inputs are not a decoder's that Hearth knows how to drive "
            f"(unexpected: {', '.join(unknown) or 'no input_ids'}). "
            "Export it with the ONNX Runtime GenAI builder or optimum as a causal LM with past key values."
        )
    if "logits" not in outputs:
        raise UnsupportedModelError("The graph has no 'logits' output; export it as a causal LM.")
    layers = len(past) // 2
    if layers == 0 or any(f"present.{i}.key" not in outputs for i in range(layers)):
        raise UnsupportedModelError(
            "The graph has no past/present key-value inputs and outputs, so it cannot reuse its cache. "
            "Export it with past key values (optimum: task text-generation-with-past)."
        )
    kv_type = inputs["past_key_values.0.key"].type.tensor_type
    dims = kv_type.shape.dim
    kv_heads, head_size = dims[1].dim_value, dims[3].dim_value or head_size_hint
    if not kv_heads or not head_size:
        raise UnsupportedModelError("The key-value inputs have no fixed head count or head size.")
    if kv_type.elem_type not in _FLOAT_TYPES:
        raise UnsupportedModelError("Only float32 and float16 key-value caches are supported.")
    ops = {n.op_type for n in graph.node}
    return GraphSpec(
        num_layers=layers,
        kv_heads=kv_heads,
        head_size=head_size,
        kv_dtype=_FLOAT_TYPES[kv_type.elem_type],
        shares_kv_buffer="GroupQueryAttention" in ops,
        has_position_ids="position_ids" in inputs,
        has_attention_mask="attention_mask" in inputs,
        logits_last_only=logits_seq_dim(graph) == 1 or POSITIONS_INPUT in inputs,
        positions_input=POSITIONS_INPUT in inputs,
        precision=_precision(graph),
        weight_count=_weight_count(graph),
    )


def logits_seq_dim(graph: onnx.GraphProto) -> int | None:
    out = next(o for o in graph.output if o.name == "logits")
    dims = out.type.tensor_type.shape.dim
    return dims[1].dim_value if len(dims) == 3 and dims[1].HasField("dim_value") else None


def _precision(graph: onnx.GraphProto) -> str:
    bits = {
        helper.get_attribute_value(a)
        for n in graph.node
        if n.op_type == "MatMulNBits"
        for a in n.attribute
        if a.name == "bits"
    }
    if any(n.op_type == "MatMulNBits" for n in graph.node):
        bits = bits or {4}  # the attribute defaults to 4
        return "+".join(f"int{b}" for b in sorted(bits))
    if any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul") for n in graph.node):
        return "int8"
    types = {init.data_type for init in graph.initializer if len(init.dims) == 2}
    if TensorProto.FLOAT16 in types:
        return "fp16"
    if TensorProto.BFLOAT16 in types:
        return "bf16"
    return "fp32"


def _weight_count(graph: onnx.GraphProto) -> int:
    """Parameters, counting packed n-bit weights by their unpacked size."""
    bits_of = {}
    for node in graph.node:
        if node.op_type in ("MatMulNBits", "GatherBlockQuantized") and len(node.input) > 1:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            weight = node.input[1] if node.op_type == "MatMulNBits" else node.input[0]
            bits_of[weight] = attrs.get("bits", 4)
    total = 0
    for init in graph.initializer:
        count = 1
        for d in init.dims:
            count *= d
        if init.name in bits_of:
            count = count * 8 // bits_of[init.name]
        elif init.name.endswith(("_scales", "_zero_points", "cos_cache", "sin_cache")):
            continue
        total += count
    return total
