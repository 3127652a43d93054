"""A real K-quant file, made by llama.cpp's own quantizer, converts exactly and keeps its perplexity.

The default model's Q4_1 GGUF is expanded to F32 and quantized to Q4_K_M by
llama-cpp-python's ``llama_model_quantize`` (in the llama venv the remote tests use;
see tests/engine/remote_servers.py). For this 576-wide model that file holds
Q4_K, Q6_K, Q5_0 and Q8_0 tensors. Hearth converts it at int4 (every tensor on an
exact route) and at fp32 (the same file dequantized). On a 256-token slice of
tests/data/ppl_text.txt:
- with fp32 activations (accuracy_level 1) the int4 graph's perplexity is the fp32
  build's: the routes carry the weights exactly (measured: equal to 4 decimals);
- as shipped (accuracy_level 4, int8 activations) it stays within a few percent
  (measured +2.1 % on this slice, +0.7 to +1.1 % on 1,024 tokens; a re-quantized
  model is +25 %). The 0.5 % target is not met at level 4: docs/fidelity.md.

About 2.5 minutes on 2 busy cores: the two conversions take 45-55 s each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.core.events import LoadOptions
from engine.generation.perplexity import perplexity
from engine.runtime.model import load_model
from tests.engine.remote_servers import llama_python

TEXT = Path(__file__).resolve().parents[1] / "data" / "ppl_text.txt"

QUANTIZE = """
import sys, llama_cpp as lib
src, dst, ftype = sys.argv[1], sys.argv[2], getattr(lib, sys.argv[3])
params = lib.llama_model_quantize_default_params()
params.nthread = 2
params.ftype = ftype
params.allow_requantize = True  # the source is already quantized (Q4_1)
sys.exit(lib.llama_model_quantize(src.encode(), dst.encode(), params))
"""


def _quantize(python: Path, src: Path, dst: Path, ftype: str) -> None:
    result = subprocess.run([str(python), "-c", QUANTIZE, str(src), str(dst), ftype],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0 and dst.is_file(), result.stderr[-2000:]


@pytest.fixture(scope="module")
def q4_k_m(default_gguf, tmp_path_factory) -> Path:
    """The default model as a Q4_K_M file from llama.cpp's quantizer."""
    work = tmp_path_factory.mktemp("kquant")
    python = llama_python()
    f32 = work / "model-f32.gguf"
    _quantize(python, default_gguf, f32, "LLAMA_FTYPE_ALL_F32")
    _quantize(python, f32, work / "model-q4_k_m.gguf", "LLAMA_FTYPE_MOSTLY_Q4_K_M")
    f32.unlink()  # 540 MB
    return work / "model-q4_k_m.gguf"


@pytest.mark.slow
def test_q4_k_m_converts_exactly_and_keeps_its_perplexity_up_to_int8_activations(q4_k_m, tmp_path):
    import gguf

    from engine.convert.pipeline import convert

    types = {t.tensor_type.name for t in gguf.GGUFReader(q4_k_m).tensors}
    assert {"Q4_K", "Q6_K", "Q5_0", "Q8_0"} <= types

    exact = convert(q4_k_m, tmp_path / "int4", precision="int4")
    reference = convert(q4_k_m, tmp_path / "fp32", precision="fp32")
    meta = json.loads((exact / "hearth.json").read_text(encoding="utf-8"))
    assert meta["route"] == "gguf-exact-per-tensor" and meta["requantized"] == []
    assert meta["exact"]["inexact_correction_blocks"] == 0

    text = TEXT.read_text(encoding="utf-8")
    options = LoadOptions(threads=2, context_length=512)
    ppl = {}
    for name, folder in (("int4", exact), ("fp32 activations", _accuracy_level_1(exact, tmp_path / "acc1")),
                         ("fp32", reference)):  # fmt: skip
        ppl[name] = perplexity(load_model(folder, options), text, max_tokens=256).perplexity
    assert abs(ppl["fp32 activations"] / ppl["fp32"] - 1) <= 0.0005, ppl
    assert abs(ppl["int4"] / ppl["fp32"] - 1) <= 0.04, ppl


def _accuracy_level_1(folder: Path, out: Path) -> Path:
    """A copy of ``folder`` whose MatMulNBits nodes take fp32 activations.

    The weights are copied, not hard-linked: onnx refuses external data with several
    links, and pytest keeps the temporary folder, so a link broke later runs' checks.
    """
    import onnx

    shutil.copytree(folder, out)
    (out / "model.onnx").unlink()
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for node in model.graph.node:
        for a in node.attribute:
            if node.op_type == "MatMulNBits" and a.name == "accuracy_level":
                a.i = 1
    onnx.save_model(model, str(out / "model.onnx"))
    return out
