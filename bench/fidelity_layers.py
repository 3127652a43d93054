"""Where int8 activations cost fidelity: each projection against fp32 activations.

For a converted folder (``hearth-cli convert``, exact routes), the graph runs once
with fp32 activations (every ``MatMulNBits`` at accuracy_level 1) over the first
tokens of a text, and every projection's input is kept. Each projection's own
error is then what accuracy_level 4 adds on that very input: its activations
quantized to int8, symmetric, one scale per weight block per row (the emulation
matches onnxruntime's kernel to 2e-7, docs/fidelity.md). Only the ``MatMulNBits``
part sees int8; a block-sum correction stays fp32. The error is relative to the
projection's whole fp32 output, so layers compare on one scale.

The same error is printed for two remedies, computed on the same inputs:
- blocks of 16: every node's activations quantized in blocks of 16, not 32;
- outlier channels: the ``--channels`` input channels with the largest mean
  |x| (chosen on ``--calibrate``, another text) go through an fp32 side product
  and the rest through int8.

    python bench/fidelity_layers.py MODEL_DIR --text tests/data/ppl_text.txt \
        --calibrate tests/data/ppl_text_python.txt --tokens 256 [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KIND = re.compile(r"/model/layers\.(\d+)/\w+/(\w+)/|/(lm_head)/")


def quantized_int8(x: np.ndarray, block: int) -> np.ndarray:
    """``x`` ``[S, K]`` after accuracy_level 4's activation quantization, back in fp32."""
    s, k = x.shape
    blocks = x.reshape(s, k // block, block)
    scale = np.abs(blocks).max(axis=2, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return (np.clip(np.round(blocks / scale), -127, 127) * scale).reshape(s, k)


def capture_inputs(folder: Path, ids: list[int]) -> tuple[dict[str, np.ndarray], dict[str, tuple]]:
    """Each MatMulNBits node's input over ``ids``, at fp32 activations, and its main weight."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    from engine.convert import nbits
    from engine.convert.nbits import NBitsWeight

    model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
    inits = {i.name: i for i in model.graph.initializer}
    weights: dict[str, tuple] = {}
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for a in node.attribute:
            if a.name == "accuracy_level":
                a.i = 1
        q = nbits.unpack(numpy_helper.to_array(inits[node.input[1]]), attrs["bits"], attrs["block_size"])
        scale = numpy_helper.to_array(inits[node.input[2]]).astype(np.float32).reshape(attrs["N"], -1)
        main = NBitsWeight(q=q, scale=scale, bits=attrs["bits"]).dequantize()
        weights[node.name] = (node.input[0], attrs["block_size"], main)
    wanted = sorted({x for x, _, _ in weights.values()})
    gammas = {n.output[0]: numpy_helper.to_array(inits[n.input[-1]]) for n in model.graph.node
              if n.op_type.endswith("SimplifiedLayerNormalization") and n.output[0] in wanted}  # fmt: skip
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None) for x in wanted if x not in known)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds: dict[str, np.ndarray] = {
        "input_ids": np.array([ids], np.int64),
        "attention_mask": np.ones((1, len(ids)), np.int64),
    }
    head = json.loads((folder / "genai_config.json").read_text())["model"]["decoder"]["head_size"]
    for i in session.get_inputs():
        if i.name.startswith("past_key_values"):
            feeds[i.name] = np.zeros((1, i.shape[1], 0, head), np.float32)
    out = session.run(wanted, feeds)
    acts = {name: value.reshape(-1, value.shape[-1]) for name, value in zip(wanted, out, strict=True)}
    return acts, weights, gammas


def outlier_channels(acts: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    return {name: np.argsort(-np.abs(x).mean(axis=0))[:count] for name, x in acts.items()}


def node_errors(x: np.ndarray, block: int, main: np.ndarray, channels: np.ndarray, by_gamma: np.ndarray) -> dict[str, float]:
    """Relative output error of int8 activations on one node, as shipped and with each remedy."""
    reference = np.linalg.norm(x @ main.T) or 1.0

    def err(xq: np.ndarray) -> float:
        return float(np.linalg.norm((xq - x) @ main.T) / reference)

    def split(chosen: np.ndarray) -> np.ndarray:
        kept = x.copy()
        kept[:, chosen] = 0.0
        side = np.zeros_like(x)
        side[:, chosen] = x[:, chosen]
        return quantized_int8(kept, block) + side

    return {
        "shipped": err(quantized_int8(x, block)),
        "blocks16": err(quantized_int8(x, min(block, 16))),
        "outliers": err(split(channels)),
        "outliers_gamma": err(split(by_gamma)),
        "peak_to_rms": float(np.abs(x).max() / (np.sqrt((x**2).mean()) or 1.0)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--text", type=Path, required=True)
    ap.add_argument("--calibrate", type=Path, required=True)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    ids = tok.encode(args.text.read_text(encoding="utf-8"), add_special_tokens=False).ids[: args.tokens]
    calib_ids = tok.encode(args.calibrate.read_text(encoding="utf-8"), add_special_tokens=False).ids[: args.tokens]
    calib, _, _ = capture_inputs(args.model, calib_ids)
    acts, weights, gammas = capture_inputs(args.model, ids)
    chosen = outlier_channels(calib, args.channels)
    rows = []
    for name, (x_name, block, main) in weights.items():
        hit = KIND.match(name)
        layer, kind = (int(hit.group(1)), hit.group(2)) if hit and hit.group(1) else (-1, "lm_head")
        gamma = gammas.get(x_name)
        by_gamma = np.argsort(-np.abs(gamma))[: args.channels] if gamma is not None else chosen[x_name]
        e = node_errors(acts[x_name], block, main, chosen[x_name], by_gamma)
        rows.append({"node": name, "layer": layer, "kind": kind, "block": block, **e})
    cols = ("shipped", "blocks16", "outliers", "outliers_gamma")
    print(f"{'layer':>5} {'kind':<10} {'block':>5} {'peak/rms':>9} " + " ".join(f"{c:>14}" for c in cols))
    for r in rows:
        print(f"{r['layer']:>5} {r['kind']:<10} {r['block']:>5} {r['peak_to_rms']:>9.1f} "
              + " ".join(f"{r[c]:>14.2e}" for c in cols))  # fmt: skip
    for kind in sorted({r["kind"] for r in rows}):
        sel = [r for r in rows if r["kind"] == kind]
        print(f"median {kind:<10} " + "  ".join(f"{c} {np.median([r[c] for r in sel]):.2e}" for c in cols))
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "tokens": len(ids), "channels": args.channels,
                                         "rows": rows}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
