"""Input channels kept out of int8 activations: an fp32 side product for the few large ones.

At accuracy_level 4 ``MatMulNBits`` quantizes each row of its input to int8, one
scale per weight block (docs/fidelity.md). The inputs that come straight from an
RMSNorm (q/k/v, gate/up and the head) carry a handful of channels 10-100x larger
than the rest, in the same places on every text, so those blocks' scales drown
their other values. Those channels are zeroed before the int8 node and multiplied
in fp32 beside it:

    x @ w.T = MatMulNBits(x * mask) + x[:, C] @ w[:, C].T

The side product rides on the block-sum correction's MatMuls where a node has one
(``engine/convert/blocksum.py``), so a Q4_1 graph gains one ``Mul`` per input.
The weights stay exactly the GGUF's. The channels are chosen once, at conversion,
by mean |x| over the opening of a licence text (``calibration.txt``, MPL 2.0) run
through the builder's own graph.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

CHANNELS = 8  # per input; docs/fidelity.md measures the gain
CALIBRATION_TOKENS = 256
CALIBRATION_TEXT = Path(__file__).with_name("calibration.txt")
# Projections whose input is an RMSNorm's output; o_proj and down_proj gained little.
NORMED_INPUT = re.compile(r"/(qkv_proj|q_proj|k_proj|v_proj|gate_proj|up_proj|lm_head)/")


def choose(model_dir: Path, count: int = CHANNELS) -> dict[str, np.ndarray]:
    """The ``count`` largest channels (by mean |x|) of every normed projection input.

    Runs the graph in ``model_dir`` once over the calibration text. Returns an
    empty dict when the graph wants inputs this does not know how to feed.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper

    model = onnx.load(str(model_dir / "model.onnx"), load_external_data=False)
    wanted = sorted({n.input[0] for n in model.graph.node if n.op_type == "MatMulNBits" and NORMED_INPUT.search(n.name)})
    if not wanted:
        return {}
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None) for x in wanted if x not in known)
    probe = model_dir / "calibration.onnx"  # beside the weights, whose external data it names
    onnx.save_model(model, str(probe))
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(str(probe), options, providers=["CPUExecutionProvider"])
        feeds = _feeds(session, model_dir)
        if feeds is None:
            return {}
        outputs = session.run(wanted, feeds)
    finally:
        probe.unlink(missing_ok=True)
    del session
    return {x: _largest(v.reshape(-1, v.shape[-1]), count) for x, v in zip(wanted, outputs, strict=True)}


def _feeds(session: Any, model_dir: Path) -> dict[str, np.ndarray] | None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    text = CALIBRATION_TEXT.read_text(encoding="utf-8")
    ids = tok.encode(text, add_special_tokens=False).ids[:CALIBRATION_TOKENS]
    decoder = json.loads((model_dir / "genai_config.json").read_text(encoding="utf-8"))["model"]["decoder"]
    head = decoder["head_size"]
    # Sliding-window attention (Gemma) wants a cache at least as long as its window;
    # the graph shares past and present buffers, so the mask alone says what is filled.
    capacity = max(len(ids), int((decoder.get("sliding_window") or {}).get("window_size") or 0))
    feeds: dict[str, np.ndarray] = {}
    for i in session.get_inputs():
        if i.name == "input_ids":
            feeds[i.name] = np.array([ids], np.int64)
        elif i.name == "attention_mask":
            feeds[i.name] = np.ones((1, len(ids)), np.int64)
        elif i.name == "position_ids":
            feeds[i.name] = np.arange(len(ids), dtype=np.int64)[None, :]
        elif i.name.startswith("past_key_values"):
            feeds[i.name] = np.zeros((1, i.shape[1], capacity, head), np.float32)
        else:
            return None
    return feeds


def _largest(x: np.ndarray, count: int) -> np.ndarray:
    """Channel ids by falling mean |x|, sorted ascending so the side weights read in order."""
    return np.sort(np.argsort(-np.abs(x).mean(axis=0), kind="stable")[:count]).astype(np.int64)
