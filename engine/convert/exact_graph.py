"""Carry a GGUF's own weights into the GenAI builder's int4 graph, tensor by tensor.

The builder re-quantizes every projection to 4-bit blocks of 32, which costs a
quarter of a Q4_1 model's perplexity (docs/fidelity.md). Here each
``MatMulNBits`` node is pointed back at the GGUF's own grid, chosen by the type
of the GGUF tensor behind it:

- integer types with an exact ``MatMulNBits`` form (``engine/convert/nbits.py``),
  plus the block-sum correction where the type has a float minimum;
- F32, F16 and BF16 as a plain fp32 ``MatMul`` (both convert to fp32 exactly);
- anything else keeps the builder's re-quantized node, and is listed in the
  summary (``requantized``) for hearth.json.

A fused node (the builder's q/k/v) whose parts differ in type is stored in the
widest layout any part needs (``nbits.stack``), which is still exact. The other
way round, a fused GGUF tensor (Phi-3's ``attn_qkv``, and its ``ffn_up`` that
holds gate rows then up rows) is cut into the rows of each builder node; blocks
run along a row, so quantized rows are cut before decoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.convert import gguf_blocks, nbits
from engine.convert.blocksum import CorrectionWriter
from engine.convert.gguf_source import GGUFSource, unpermute_rotary
from engine.convert.nbits import NBitsWeight
from engine.core.errors import ConversionError

ROUTE = "gguf-exact-per-tensor"
_LAYER_NODE = re.compile(r"/model/layers\.(\d+)/(attn|mlp)/(qkv_proj|q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)/")
_GGUF_NAME = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}  # fmt: skip
# Architectures whose q/k rows llama.cpp permutes for its rotary kernel and
# transformers' GGUF loader permutes back (its LlamaTensorProcessor, keyed by
# the file's architecture). Qwen and Gemma files keep Hugging Face's row order.
ROTARY_PERMUTED = frozenset({"llama"})


def type_route(type_name: str) -> str | None:
    """How a GGUF tensor type is carried, or None when it is re-quantized."""
    if type_name in gguf_blocks.FLOAT_TYPES:
        return "fp32 MatMul, as is"
    if type_name not in gguf_blocks.DECODERS:
        return None
    block_bytes, _, _ = gguf_blocks.DECODERS[type_name]
    w = nbits.from_blocks(gguf_blocks.decode(np.zeros((1, block_bytes), np.uint8), type_name))
    return f"{w.bits}-bit blocks of {w.block}" + (" + block-sum correction" if w.r is not None else "")


@dataclass(frozen=True)
class TensorRows:
    """Rows ``start:stop`` of the GGUF tensor ``name``, and the head count to unpermute them by."""

    name: str
    start: int
    stop: int
    heads: int | None = None


def whole_tensor(src: GGUFSource, name: str) -> TensorRows:
    return TensorRows(name, 0, src.tensor_rows(name))


def node_sources(src: GGUFSource, node_name: str) -> list[TensorRows] | None:
    """The GGUF rows behind a projection node, in the node's row order.

    Returns None for a node this module does not know (it stays re-quantized).
    """
    if node_name.startswith("/lm_head/"):
        return [whole_tensor(src, head_tensor(src))]
    hit = _LAYER_NODE.match(node_name)
    if hit is None:
        return None
    projs = ["q_proj", "k_proj", "v_proj"] if hit.group(3) == "qkv_proj" else [hit.group(3)]
    parts = [_projection_rows(src, f"blk.{hit.group(1)}.", p) for p in projs]
    found = [p for p in parts if p is not None]
    return found if len(found) == len(parts) else None


def _projection_rows(src: GGUFSource, blk: str, proj: str) -> TensorRows | None:
    names = src.tensor_names()
    n_head = int(src.arch_field("attention.head_count"))
    n_kv = src.arch_field("attention.head_count_kv", n_head)
    n_kv = int(max(n_kv) if isinstance(n_kv, list) else n_kv)  # per-layer list in hybrid models (0: no attention)
    heads = {"q_proj": n_head, "k_proj": n_kv}.get(proj) if src.architecture in ROTARY_PERMUTED else None
    own = f"{blk}{_GGUF_NAME[proj]}.weight"
    if proj in ("q_proj", "k_proj", "v_proj") and own not in names and f"{blk}attn_qkv.weight" in names:
        # llama.cpp's fused attn_qkv: n_head heads of q, then n_kv of k, then n_kv of v
        fused = f"{blk}attn_qkv.weight"
        head_dim = src.tensor_rows(fused) // (n_head + 2 * n_kv)
        start, count = {"q_proj": (0, n_head), "k_proj": (n_head, n_kv), "v_proj": (n_head + n_kv, n_kv)}[proj]
        return TensorRows(fused, start * head_dim, (start + count) * head_dim, heads)
    if proj in ("gate_proj", "up_proj") and _fused_gate_up(src, blk):
        # ffn_up holds gate rows then up rows (llama.cpp's phi3)
        fused = f"{blk}ffn_up.weight"
        half = src.tensor_rows(fused) // 2
        return TensorRows(fused, 0, half) if proj == "gate_proj" else TensorRows(fused, half, 2 * half)
    return TensorRows(own, 0, src.tensor_rows(own), heads) if own in names else None


def _fused_gate_up(src: GGUFSource, blk: str) -> bool:
    """True when ``ffn_up`` is gate and up stacked: no ``ffn_gate`` and twice the MLP width of rows.

    A model without a gate (Nemotron's relu² MLP) also lacks ``ffn_gate``, but its
    ``ffn_up`` is the up projection alone, as wide as ``feed_forward_length``.
    """
    names = src.tensor_names()
    up = f"{blk}ffn_up.weight"
    if f"{blk}ffn_gate.weight" in names or up not in names:
        return False
    width = src.arch_field("feed_forward_length")
    if isinstance(width, list):  # per-layer widths
        width = width[int(blk.split(".")[1])]
    return width is not None and src.tensor_rows(up) == 2 * int(width)


def head_tensor(src: GGUFSource) -> str:
    return "output.weight" if "output.weight" in src.tensor_names() else "token_embd.weight"


def load_weight(src: GGUFSource, parts: list[TensorRows]) -> NBitsWeight | np.ndarray:
    """The exact weight of a node: ``NBitsWeight``, or fp32 ``[N, K]`` if any part is float."""
    if any(src.tensor_type(p.name) in gguf_blocks.FLOAT_TYPES for p in parts):
        return np.concatenate([_unpermuted(src.dequantized(p.name)[p.start : p.stop], p.heads) for p in parts])
    pieces = []
    for p in parts:
        b = gguf_blocks.decode(src.raw(p.name)[p.start : p.stop], src.tensor_type(p.name))
        w = nbits.from_blocks(b)
        if p.heads:  # blocks run along K, so permuted rows move whole
            w = NBitsWeight(
                q=unpermute_rotary(w.q, p.heads), scale=unpermute_rotary(w.scale, p.heads), bits=w.bits,
                r=None if w.r is None else unpermute_rotary(w.r, p.heads), inexact_blocks=w.inexact_blocks,
            )  # fmt: skip
        pieces.append(w)
    return nbits.stack(pieces)


def _unpermuted(w: np.ndarray, heads: int | None) -> np.ndarray:
    return unpermute_rotary(w, heads) if heads else w


def apply(src: GGUFSource, model_dir: Path, outliers: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Point every ``MatMulNBits`` in ``model_dir`` (the builder's int4 CPU output) at the GGUF's grid.

    ``outliers`` maps a node input to the channels that skip its int8 activations
    (``engine/convert/outlier_channels.py``).

    Returns:
        A summary for hearth.json: routes used per GGUF type, the tensors left
        re-quantized, correction nodes added and how the embedding is stored.
    """
    import onnx

    model_path = model_dir / "model.onnx"
    model = onnx.load(str(model_path), load_external_data=True)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    writer: CorrectionWriter | None = None
    nodes: list[Any] = []
    drop: set[str] = set()
    new_inits: list[Any] = []
    routes: dict[str, str] = {}
    requantized: list[str] = []
    inexact = 0
    for node in graph.node:
        if node.op_type != "MatMulNBits":
            nodes.append(node)
            continue
        parts = node_sources(src, node.name)
        types = [src.tensor_type(p.name) for p in parts or []]
        if parts is None or any(type_route(t) is None for t in types):
            # a fused GGUF tensor feeds several nodes (Phi-3's ffn_up) or parts of one: listed once
            for name in [p.name for p in parts] if parts else [node.name]:
                if name not in requantized:
                    requantized.append(name)
            nodes.append(node)
            continue
        dtype = onnx.helper.tensor_dtype_to_np_dtype(inits[node.input[2]].data_type)
        if dtype != np.float32:  # d*sc needs fp32 scales; fp16 graphs are not built on CPU
            raise ConversionError(f"{node.name} has {dtype} scales; the exact route needs float32.")
        drop.update(node.input[1:])
        for t in types:
            routes[t] = str(type_route(t))
        w = load_weight(src, parts)
        _check_shape(node, w.shape)
        base = node.input[1].rsplit("_Q4", 1)[0]
        if isinstance(w, np.ndarray):
            nodes.append(_float_matmul(node, w, base, new_inits))
            continue
        inexact += w.inexact_blocks
        writer = writer or CorrectionWriter(np.dtype(np.float32), outliers)
        nodes += writer.rewrite(node, w, base)
    del graph.node[:]
    graph.node.extend(nodes)
    if writer is not None:
        new_inits += writer.initializers
    embedding = _embedding(src, graph, new_inits)
    kept = [i for i in graph.initializer if i.name not in drop]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    _drop_unused(graph)
    _save(model, model_path)
    return {
        "layers": ROUTE,
        "routes": dict(sorted(routes.items())),
        "requantized": requantized,
        "correction_nodes": writer.correction_nodes if writer else 0,
        "fp32_channels": writer.fp32_channels() if writer else {},
        "inexact_correction_blocks": inexact,
        "embedding": embedding,
    }


def _check_shape(node: Any, shape: tuple[int, ...]) -> None:
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if tuple(shape) != (attrs["N"], attrs["K"]):
        raise ConversionError(f"{node.name}: GGUF shape {tuple(shape)} does not match N={attrs['N']}, K={attrs['K']}.")


def _float_matmul(node: Any, w: np.ndarray, base: str, new_inits: list[Any]) -> Any:
    """A plain MatMul on the float weight (``[K, N]``), keeping the node's name."""
    from onnx import helper, numpy_helper

    name = f"{base}_f32T"
    new_inits.append(numpy_helper.from_array(np.ascontiguousarray(w.T.astype(np.float32)), name))
    return helper.make_node("MatMul", [node.input[0], name], list(node.output), name=node.name)


def _embedding(src: GGUFSource, graph: Any, new_inits: list[Any]) -> str:
    """Store the quantized embedding (``GatherBlockQuantized``) exactly, or as an fp32 Gather.

    ``GatherBlockQuantized`` takes bits 4 or 8 and blocks of 16 or 32 with the
    default zero point (checked on onnxruntime 1.31), so a type without a
    correction keeps its own grid. A type with a float minimum cannot be
    gathered exactly from blocks: the table becomes the GGUF's fp32 values.
    """
    from onnx import helper, numpy_helper

    gathers = [n for n in graph.node if n.op_type == "GatherBlockQuantized"]
    if not gathers:
        return "fp32 Gather (builder)"
    name = "token_embd.weight"
    kind = src.tensor_type(name)
    w = load_weight(src, [whole_tensor(src, name)]) if type_route(kind) else None
    how = f"GatherBlockQuantized from the builder ({kind}, re-quantized)"
    if isinstance(w, NBitsWeight) and w.r is None:
        data, scales = _quantized_table(src, graph, w, new_inits)
    for gbq in gathers:
        ids = str(gbq.input[1])
        if isinstance(w, NBitsWeight) and w.r is None:
            del gbq.input[:]
            gbq.input.extend([data, ids, scales])
            _attr(gbq, "bits", w.bits)
            _attr(gbq, "block_size", w.block)
            how = f"GatherBlockQuantized {w.bits}-bit blocks of {w.block} ({kind}, exact)"
        elif w is not None:
            table = w if isinstance(w, np.ndarray) else w.dequantize()
            if f"{name}_f32" not in {i.name for i in new_inits}:
                new_inits.append(numpy_helper.from_array(table.astype(np.float32), f"{name}_f32"))
            gather = helper.make_node("Gather", [f"{name}_f32", ids], list(gbq.output), name=gbq.name)
            graph.node.insert(list(graph.node).index(gbq), gather)
            graph.node.remove(gbq)
            how = f"fp32 Gather ({kind}, exact)"
    return how


def _quantized_table(src: GGUFSource, graph: Any, w: NBitsWeight, new_inits: list[Any]) -> tuple[str, str]:
    """The embedding's data and scales: lm_head's own bytes when the head is tied to it."""
    from onnx import helper, numpy_helper

    n, k = w.shape
    shape = [n, k * w.bits // 8]
    head = next((x for x in graph.node if x.name.startswith("/lm_head/") and x.op_type == "MatMulNBits"), None)
    # Tied: the head carries this very tensor, which has no block minimum here, so its
    # bytes are the whole weight (an outlier side product only reads them differently).
    if head is not None and head_tensor(src) == "token_embd.weight":
        new_inits.append(numpy_helper.from_array(np.array(shape, np.int64), "token_embd.table_shape"))
        reshape = helper.make_node("Reshape", [head.input[1], "token_embd.table_shape"], ["token_embd.table"],
                                   name="/model/embed_tokens/TableReshape")  # fmt: skip
        graph.node.insert(0, reshape)
        return "token_embd.table", str(head.input[2])
    data, scales = f"token_embd.weight_q{w.bits}b{w.block}", f"token_embd.weight_scales_b{w.block}"
    new_inits += [numpy_helper.from_array(w.packed().reshape(shape), data), numpy_helper.from_array(w.scale, scales)]
    return data, scales


def _drop_unused(graph: Any) -> None:
    """Remove nodes and initializers nothing reads any more (the tied embedding's old Reshape)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    produced = {o for n in graph.node for o in n.output}
    infos = [v for v in graph.value_info if v.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(infos)


def _attr(node: Any, name: str, value: int) -> None:
    import onnx

    for a in node.attribute:
        if a.name == name:
            a.i = value
            return
    node.attribute.append(onnx.helper.make_attribute(name, value))


def _save(model: Any, model_path: Path) -> None:
    import onnx

    data = model_path.with_name(model_path.name + ".data")
    data.unlink(missing_ok=True)  # onnx appends to an existing data file
    onnx.save_model(
        model, str(model_path), save_as_external_data=True, all_tensors_to_one_file=True,
        location=data.name, size_threshold=1024,
    )  # fmt: skip
    data.chmod(0o644)  # onnx creates it owner-only; the builder's files are world-readable
