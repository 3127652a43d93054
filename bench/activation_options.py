"""Copies of a converted folder with one remedy for int8 activations each, to measure end to end.

``bench/fidelity_layers.py`` shows what each remedy does to one projection; this
writes whole graphs with it, for ``hearth-cli eval ppl`` and ``bench/routes.py``.
The weights stay exactly the GGUF's in every variant:
- ``blocks16``: every 4-bit or 8-bit node in blocks of 32 is stored in blocks of
  16 (the same bytes, each scale twice), so accuracy_level 4 quantizes its
  activations twice as finely. The tied embedding follows the head.
- ``acc1``: every MatMulNBits at accuracy_level 1 (fp32 activations).

Outlier channels in fp32 are not a variant here: the converter writes them
(``hearth-cli convert --fp32-channels N``, engine/convert/outlier_channels.py).

    python bench/activation_options.py MODEL_DIR OUT_DIR --variant blocks16
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np


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


def main() -> int:
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--variant", nargs="+", choices=("blocks16", "acc1"), required=True)
    args = ap.parse_args()

    model = onnx.load(str(args.model / "model.onnx"), load_external_data=True)
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
