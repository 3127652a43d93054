"""Carry a Q4_1 GGUF's own weights into the GenAI builder's int4 graph.

Re-quantizing weights that are already on a 4-bit grid costs about a quarter of
the model's perplexity (docs/fidelity.md). Two routes keep the GGUF's grid:

- ``BLOCKSUM_ROUTE`` (default, ``engine/convert/q4_blocksum.py``): the builder's own
  symmetric 4-bit kernel plus an exact fp32 per-block correction. Bit-exact weights.
- ``ROUTE``: 8-bit blocks. Q4_1 stores ``w = d*q + m`` per block of 32, q in 0..15:

      s = d/k,  q8 = k*q + c,  zero point 128,  c = round(128 + k*m/d)
      =>  s*(q8 - 128) = d*q + m + err,  |err| = d/k * |c - (128 + k*m/d)|

  The 16 levels stay exact for any integer k <= 17; only the block minimum
  rounds. Per block the k that rounds least is kept (|err| <= d/16, typically far
  less). The operator's default zero point keeps the kernel on its fastest path.

Either way the Q8_0 head (SmolLM2's tied embedding / lm_head) maps exactly onto
8-bit blocks (``s = d``, ``q8 = q + 128``), shared with a ``bits=8``
``GatherBlockQuantized`` embedding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.convert.gguf_source import GGUFSource, Q41Blocks, Q80Blocks, unpermute_rotary
from engine.convert.q4_blocksum import Blocks4Sum, CorrectionWriter, unpack
from engine.convert.q4_blocksum import ROUTE as BLOCKSUM_ROUTE
from engine.core.errors import ConversionError

ROUTE = "q4_1-exact-8bit-blocks"
ROUTES = (ROUTE, BLOCKSUM_ROUTE)
DEFAULT_ROUTE = BLOCKSUM_ROUTE
BLOCK = 32
_LAYER_NODE = re.compile(r"/model/layers\.(\d+)/(attn|mlp)/(qkv_proj|q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)/")
_GGUF_NAME = {
    "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
}  # fmt: skip


@dataclass
class Blocks8:
    """One ``MatMulNBits`` weight at 8 bits: ``w = scale * (q - zero)`` per block."""

    q: np.ndarray  # uint8 [N, K/32, 32]
    scale: np.ndarray  # float32 [N, K/32]
    zero: np.ndarray | None  # uint8 [N, K/32]; None means the default 128
    approximate_blocks: int = 0  # blocks no exact k fitted (plain 8-bit instead)
    max_error_in_d: float = 0.0  # worst zero-point rounding, as a fraction of the Q4_1 step d

    def dequantize(self) -> np.ndarray:
        zero = np.float32(128) if self.zero is None else self.zero[..., None].astype(np.float32)
        w = (self.q.astype(np.float32) - zero) * self.scale[..., None]
        return w.reshape(w.shape[0], -1)


def q4_1_to_8bit(b: Q41Blocks) -> Blocks8:
    """Map Q4_1 blocks onto 8-bit blocks with the default zero point 128.

    With ``s = d/k`` and ``q8 = k*q + c`` the 16 levels stay exact for any integer
    k; the block minimum needs ``c = 128 + k*m/d``, which rounds. Every k whose
    codes fit a byte is tried and the one that rounds least is kept. No zero-point
    tensor is stored: MatMulNBits runs about 8 % faster without one.
    """
    n, nb = b.d.shape
    d, m = b.d.astype(np.float64), b.m.astype(np.float64)
    k = np.zeros((n, nb), np.int64)
    c = np.zeros((n, nb), np.int64)
    live = d > 0
    best = np.full((n, nb), np.inf)
    ratio = np.where(live, m / np.where(live, d, 1.0), 0.0)
    for mult in range(1, 18):
        exact_c = 128.0 + mult * ratio
        cc = np.rint(exact_c).astype(np.int64)
        e = np.abs(cc - exact_c) / mult  # the minimum's error, in units of d
        ok = live & (cc >= 0) & (cc + 15 * mult <= 255) & (e < best)
        k[ok], c[ok], best[ok] = mult, cc[ok], e[ok]
    scale = d / np.maximum(k, 1)
    q8 = k[..., None] * b.q.astype(np.int64) + c[..., None]
    # Blocks no k fits (flat, or a minimum far from zero relative to d): plain
    # symmetric 8-bit of the dequantized values, counted in the report.
    loose = k == 0
    if loose.any():
        w = b.d[loose][:, None] * b.q[loose].astype(np.float64) + b.m[loose][:, None]
        amax = np.abs(w).max(axis=-1)
        scale[loose] = np.where(amax > 0, amax / 127.0, 1.0)
        q8[loose] = np.clip(np.rint(w / scale[loose][:, None]) + 128, 0, 255)
    err = np.where(live & ~loose, best, 0.0)
    return Blocks8(
        q=q8.astype(np.uint8),
        scale=scale.astype(np.float32),
        zero=None,
        approximate_blocks=int(loose.sum()),
        max_error_in_d=float(err.max()) if err.size else 0.0,
    )


def q8_0_to_8bit(b: Q80Blocks) -> Blocks8:
    """Q8_0 is already symmetric 8-bit: shift to unsigned, zero point 128."""
    q = (b.q.astype(np.int16) + 128).astype(np.uint8)
    return Blocks8(q=q, scale=b.d.astype(np.float32), zero=None)


def supports(src: GGUFSource) -> bool:
    """True when every layer weight is Q4_1 and the head is Q4_1 or Q8_0."""
    layer = re.compile(r"blk\.\d+\.(" + "|".join(_GGUF_NAME.values()) + r")\.weight$")
    types = {src.tensor_type(n) for n in src.tensor_names() if layer.match(n)}
    head = "output.weight" if "output.weight" in src.tensor_names() else "token_embd.weight"
    return types == {"Q4_1"} and src.tensor_type(head) in ("Q4_1", "Q8_0")


def gguf_blocks(src: GGUFSource, name: str) -> Blocks8:
    """The 8-bit blocks of GGUF tensor ``name`` (Q4_1 or Q8_0)."""
    kind = src.tensor_type(name)
    if kind == "Q4_1":
        return q4_1_to_8bit(src.q4_1(name))
    if kind == "Q8_0":
        return q8_0_to_8bit(src.q8_0(name))
    raise ConversionError(f"Tensor '{name}' is {kind}; the exact route handles Q4_1 and Q8_0.")


def layer_q4_1(src: GGUFSource, layer: int, proj: str) -> Q41Blocks:
    """The Q4_1 blocks behind one graph projection, rows in Hugging Face order.

    ``qkv_proj`` is the builder's fused q/k/v, stacked along N in that order.
    """
    n_head = int(src.arch_field("attention.head_count"))
    n_kv = int(src.arch_field("attention.head_count_kv", n_head))
    parts = []
    for p in ["q_proj", "k_proj", "v_proj"] if proj == "qkv_proj" else [proj]:
        b = src.q4_1(f"blk.{layer}.{_GGUF_NAME[p]}.weight")
        heads = {"q_proj": n_head, "k_proj": n_kv}.get(p)
        if heads:  # llama.cpp permuted these rows for its rotary; blocks run along K, so rows move whole
            b = Q41Blocks(d=unpermute_rotary(b.d, heads), m=unpermute_rotary(b.m, heads), q=unpermute_rotary(b.q, heads))
        parts.append(b)
    if len(parts) == 1:
        return parts[0]
    return Q41Blocks(
        d=np.concatenate([b.d for b in parts]),
        m=np.concatenate([b.m for b in parts]),
        q=np.concatenate([b.q for b in parts]),
    )


def apply(src: GGUFSource, model_dir: Path, route: str = DEFAULT_ROUTE) -> dict[str, Any]:
    """Replace every ``MatMulNBits`` (and the tied embedding) in ``model_dir`` with exact blocks.

    Args:
        src: The Q4_1 GGUF the graph was built from.
        model_dir: The builder's output folder (int4), edited in place.
        route: ``ROUTE`` (8-bit blocks) or ``BLOCKSUM_ROUTE`` (4-bit plus an exact
            correction) for the layers; the head is 8-bit either way.

    Returns:
        A summary for hearth.json.
    """
    import onnx

    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}")
    model_path = model_dir / "model.onnx"
    model = onnx.load(str(model_path), load_external_data=True)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    head_name = "output.weight" if "output.weight" in src.tensor_names() else "token_embd.weight"
    stats: dict[str, Any] = {"replaced": 0, "approximate": 0, "worst": 0.0}
    head: Blocks8 | None = None
    head_names: list[str] = []
    new_inits: list[Any] = []
    drop: set[str] = set()
    nodes: list[Any] = []
    writer: CorrectionWriter | None = None

    for node in graph.node:
        if node.op_type != "MatMulNBits":
            nodes.append(node)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        dtype = onnx.helper.tensor_dtype_to_np_dtype(inits[node.input[2]].data_type)
        base = node.input[1].rsplit("_Q4", 1)[0]
        drop.update(node.input[1:])
        stats["replaced"] += 1
        if node.name.startswith("/lm_head/"):
            head = gguf_blocks(src, head_name)
            head_names = _write_8bit(node, head, base, dtype, attrs, new_inits, stats)
            nodes.append(node)
            continue
        hit = _LAYER_NODE.match(node.name)
        if hit is None:
            raise ConversionError(f"The exact Q4_1 route does not know the node {node.name}.")
        q41 = layer_q4_1(src, int(hit.group(1)), hit.group(3))
        if route == ROUTE:
            _write_8bit(node, q4_1_to_8bit(q41), base, dtype, attrs, new_inits, stats)
            nodes.append(node)
        else:
            _check_shape(node, q41.q.shape, attrs)
            writer = writer or CorrectionWriter(dtype)
            nodes += writer.rewrite(node, Blocks4Sum.from_q4_1(q41), base)

    added = len(nodes) - len(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    if writer is not None:
        new_inits += writer.initializers
    embed = _retie_embedding(graph, head, head_names, new_inits)
    kept = [i for i in graph.initializer if i.name not in drop]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    _save(model, model_path)
    summary: dict[str, Any] = {"layers": route, "matmulnbits_replaced": stats["replaced"], "embedding": embed}
    if route == ROUTE:
        summary.update(approximate_blocks=stats["approximate"], worst_zero_point_error_in_d=round(stats["worst"], 4))
    else:
        summary["correction_nodes"] = added
    return summary


def _check_shape(node: Any, shape: tuple[int, ...], attrs: dict[str, Any]) -> None:
    if shape[0] != attrs["N"] or shape[1] * BLOCK != attrs["K"]:
        raise ConversionError(f"{node.name}: GGUF shape {shape} does not match N={attrs['N']}, K={attrs['K']}.")


def _write_8bit(
    node: Any, blocks: Blocks8, base: str, dtype: Any, attrs: dict[str, Any], new_inits: list[Any], stats: dict[str, Any]
) -> list[str]:
    """Point ``node`` at 8-bit ``blocks``; returns the new weight input names."""
    from onnx import numpy_helper

    _check_shape(node, blocks.q.shape, attrs)
    stats["worst"] = max(stats["worst"], blocks.max_error_in_d)
    stats["approximate"] += blocks.approximate_blocks
    names = [f"{base}_Q8", f"{base}_scales8"]
    new_inits += [numpy_helper.from_array(blocks.q, names[0]), numpy_helper.from_array(blocks.scale.astype(dtype), names[1])]
    if blocks.zero is not None:
        names.append(f"{base}_zp8")
        new_inits.append(numpy_helper.from_array(blocks.zero, names[2]))
    del node.input[1:]
    node.input.extend(names)
    _set_attr(node, "bits", 8)
    return names


def _retie_embedding(graph: Any, head: Blocks8 | None, head_names: list[str], new_inits: list[Any]) -> str:
    """Point the tied ``GatherBlockQuantized`` embedding at the 8-bit lm_head data.

    ``GatherBlockQuantized`` takes ``bits=8`` with uint8 data of shape [V, K] (checked
    on onnxruntime 1.31), so the embedding keeps sharing lm_head's bytes.
    """
    from onnx import numpy_helper

    gathers = [n for n in graph.node if n.op_type == "GatherBlockQuantized"]
    if not gathers:
        return "untied"
    if head is None:
        raise ConversionError("The graph has a quantized embedding but no lm_head MatMulNBits to share.")
    producers = {o: n for n in graph.node for o in n.output}
    shape_name = "lm_head.embedding_shape8"
    new_inits.append(numpy_helper.from_array(np.array([head.q.shape[0], head.q.shape[1] * BLOCK], np.int64), shape_name))
    for gbq in gathers:
        reshape = producers.get(gbq.input[0])
        if reshape is None or reshape.op_type != "Reshape":
            raise ConversionError("The tied embedding is not a Reshape of lm_head's weight; cannot retie it.")
        stale_shape = reshape.input[1]
        del reshape.input[:]
        reshape.input.extend([head_names[0], shape_name])
        _drop_constant(graph, stale_shape)
        _fix_value_info(graph, reshape.output[0], [head.q.shape[0], head.q.shape[1] * BLOCK])
        inputs = [gbq.input[0], gbq.input[1], *head_names[1:]]
        del gbq.input[:]
        gbq.input.extend(inputs)
        _set_attr(gbq, "bits", 8)
    return "GatherBlockQuantized bits=8, shared with lm_head"


def _drop_constant(graph: Any, name: str) -> None:
    """Remove the Constant node producing ``name`` if nothing else reads it."""
    if any(name in n.input for n in graph.node):
        return
    for node in list(graph.node):
        if node.op_type == "Constant" and name in node.output:
            graph.node.remove(node)


def _fix_value_info(graph: Any, name: str, dims: list[int]) -> None:
    """Update a recorded shape so ONNX Runtime does not warn about a mismatch."""
    for info in graph.value_info:
        if info.name == name:
            shape = info.type.tensor_type.shape
            for dim, value in zip(shape.dim, dims):
                dim.ClearField("dim_param")
                dim.dim_value = value


def _set_attr(node: Any, name: str, value: int) -> None:
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


def effective_weights(model: Any) -> dict[str, np.ndarray]:
    """Float32 ``[N, K]`` weights each ``MatMulNBits`` (plus its correction) multiplies by.

    Args:
        model: An ``onnx.ModelProto`` with its weights loaded.
    """
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    corr = {n.name[: -len("/Corr")]: n.input[1] for n in model.graph.node if n.name.endswith("/Corr")}
    out: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        bits = next(helper.get_attribute_value(a) for a in node.attribute if a.name == "bits")
        arrays = [numpy_helper.to_array(inits[n]) for n in node.input[1:]]
        scale = arrays[1].astype(np.float32)
        if bits == 8:
            w = Blocks8(q=arrays[0], scale=scale, zero=arrays[2] if len(arrays) > 2 else None).dequantize()
        elif node.name in corr:
            r = numpy_helper.to_array(inits[corr[node.name]]).astype(np.float32).T
            w = Blocks4Sum(q=unpack(arrays[0]), d=scale, r=r).dequantize()
        else:  # a plain 4-bit node with the default zero point 8
            w = Blocks4Sum(q=unpack(arrays[0]), d=scale, r=-8 * scale).dequantize()
        out[node.name] = w
    return out


def verify(src: GGUFSource, model_dir: Path) -> dict[str, float]:
    """Compare the graph's effective weights with ``gguf``'s own dequantizer.

    Returns:
        ``max_abs_error`` over all layer and head weights, and ``max_error_in_d``:
        the worst error as a fraction of its block's Q4_1 step.
    """
    import onnx
    from gguf import quants

    model = onnx.load(str(model_dir / "model.onnx"), load_external_data=True)
    tensors = {t.name: t for t in src._reader.tensors}  # noqa: SLF001 - an independent dequantizer
    n_head = int(src.arch_field("attention.head_count"))
    n_kv = int(src.arch_field("attention.head_count_kv", n_head))
    head = "output.weight" if "output.weight" in tensors else "token_embd.weight"
    worst_abs, worst_rel = 0.0, 0.0
    for name, got in effective_weights(model).items():
        if name.startswith("/lm_head/"):
            parts = [(head, None)]
        else:
            hit = _LAYER_NODE.match(name)
            if hit is None:
                raise ConversionError(f"Unexpected node {name} in {model_dir}.")
            projs = ["q_proj", "k_proj", "v_proj"] if hit.group(3) == "qkv_proj" else [hit.group(3)]
            heads = {"q_proj": n_head, "k_proj": n_kv}
            parts = [(f"blk.{hit.group(1)}.{_GGUF_NAME[p]}.weight", heads.get(p)) for p in projs]
        want, step = [], []
        for tname, n_rot in parts:
            t = tensors[tname]
            w = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            d = src.q4_1(tname).d if t.tensor_type.name == "Q4_1" else np.abs(src.q8_0(tname).d)
            want.append(unpermute_rotary(w, n_rot) if n_rot else w)
            step.append(unpermute_rotary(d, n_rot) if n_rot else d)
        ref, d_all = np.concatenate(want), np.concatenate(step)
        err = np.abs(got - ref).reshape(d_all.shape[0], -1, BLOCK)
        worst_abs = max(worst_abs, float(err.max()))
        worst_rel = max(worst_rel, float((err / (d_all[..., None] + 1e-30)).max()))
    return {"max_abs_error": worst_abs, "max_error_in_d": worst_rel}
