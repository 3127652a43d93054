"""Copies of a converted folder with one remedy for int8 activations each, to measure end to end.

``bench/fidelity_layers.py`` shows what each remedy does to one projection; this
writes whole graphs with it, for ``hearth-cli eval ppl`` and ``bench/routes.py``.
The weights stay exactly the GGUF's in every variant:
- ``blocks16``: every 4-bit or 8-bit node in blocks of 32 is stored in blocks of
  16 (the same bytes, each scale twice), so accuracy_level 4 quantizes its
  activations twice as finely. The tied embedding follows the head.
- ``outliers``: for the inputs of qkv, gate/up and the head, the ``--channels``
  input channels with the largest mean |x| on ``--calibrate`` (a third text)
  are zeroed before the int8 node and multiplied in fp32 by the same weights'
  columns beside it: ``y = MatMulNBits(x * mask) + x[:, C] @ W[:, C].T``.
- ``acc1``: every MatMulNBits at accuracy_level 1 (fp32 activations).

    python bench/activation_options.py MODEL_DIR OUT_DIR --variant blocks16 outliers \
        --calibrate tests/data/mpl2-apache2.txt
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fidelity_layers import capture_inputs, outlier_channels  # noqa: E402

OUTLIER_KINDS = ("/attn/qkv_proj/", "/mlp/gate_proj/", "/mlp/up_proj/", "/lm_head/")


def _attr(node, name: str, value: int) -> None:
    for a in node.attribute:
        if a.name == name:
            a.i = value


def _get(node, name: str) -> int:
    from onnx import helper

    return next(helper.get_attribute_value(a) for a in node.attribute if a.name == name)


def blocks16(model) -> int:
    """Store every block-32 node in blocks of 16; returns the nodes changed."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        if node.op_type not in ("MatMulNBits", "GatherBlockQuantized") or _get(node, "block_size") != 32:
            continue
        _attr(node, "block_size", 16)
        if node.op_type == "GatherBlockQuantized":
            continue  # reads the head's data and scales, rewritten with the head
        data, scales = inits[node.input[1]], inits[node.input[2]]
        q = numpy_helper.to_array(data)
        n, blocks, nbytes = q.shape
        data.CopyFrom(numpy_helper.from_array(q.reshape(n, blocks * 2, nbytes // 2), data.name))
        old = numpy_helper.to_array(scales)
        s = np.repeat(old.reshape(n, blocks), 2, axis=1)
        scales.CopyFrom(numpy_helper.from_array(s if old.ndim == 2 else s.reshape(-1), scales.name))
        changed += 1
    return changed


def outliers(model, folder: Path, calibrate: Path, count: int) -> int:
    """Route each chosen input's ``count`` largest channels around the int8 node."""
    from onnx import helper, numpy_helper
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids = tok.encode(calibrate.read_text(encoding="utf-8"), add_special_tokens=False).ids[:256]
    acts, weights, _ = capture_inputs(folder, ids)
    chosen = outlier_channels(acts, count)
    done: dict[str, tuple[str, str]] = {}
    nodes = []
    for node in model.graph.node:
        if node.op_type != "MatMulNBits" or not any(k in node.name for k in OUTLIER_KINDS):
            nodes.append(node)
            continue
        x = node.input[0]
        channels = chosen[x]
        if x not in done:
            k = weights[node.name][2].shape[1]
            mask = np.ones(k, np.float32)
            mask[channels] = 0
            model.graph.initializer.extend([numpy_helper.from_array(mask, f"{x}_outlier_mask"),
                                            numpy_helper.from_array(channels.astype(np.int64), f"{x}_outlier_ids")])  # fmt: skip
            nodes.append(helper.make_node("Mul", [x, f"{x}_outlier_mask"], [f"{x}_masked"], name=f"{x}/OutlierMask"))
            nodes.append(helper.make_node("Gather", [x, f"{x}_outlier_ids"], [f"{x}_outliers"], axis=-1, name=f"{x}/OutlierGather"))
            done[x] = (f"{x}_masked", f"{x}_outliers")
        masked, picked = done[x]
        main = weights[node.name][2]
        side_w = f"{node.name}_outlierT"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(main[:, channels].T), side_w))
        y = node.output[0]
        node.input[0] = masked
        node.output[0] = f"{y}_int8"
        nodes += [node,
                  helper.make_node("MatMul", [picked, side_w], [f"{y}_side"], name=f"{node.name}/OutlierSide"),
                  helper.make_node("Add", [f"{y}_int8", f"{y}_side"], [y], name=f"{node.name}/OutlierAdd")]  # fmt: skip
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return len(done)


def main() -> int:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--variant", nargs="+", choices=("blocks16", "outliers", "acc1"), required=True)
    ap.add_argument("--calibrate", type=Path, default=Path("tests/data/mpl2-apache2.txt"))
    ap.add_argument("--channels", type=int, default=8)
    args = ap.parse_args()

    model = onnx.load(str(args.model / "model.onnx"), load_external_data=True)
    if "outliers" in args.variant:  # before blocks16: it reads the weights as converted
        print("outlier inputs:", outliers(model, args.model, args.calibrate, args.channels))
    if "blocks16" in args.variant:
        print("nodes in blocks of 16:", blocks16(model))
    if "acc1" in args.variant:
        for node in model.graph.node:
            if node.op_type == "MatMulNBits":
                _attr(node, "accuracy_level", 1)
    shutil.copytree(args.model, args.out, ignore=shutil.ignore_patterns("model.onnx", "model.onnx.data"))
    onnx.save_model(model, str(args.out / "model.onnx"), save_as_external_data=True,
                    location="model.onnx.data", size_threshold=1024)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
