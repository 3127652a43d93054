"""A real K-quant file, made by llama.cpp's own quantizer, converts exactly and keeps its perplexity.

The default model's Q4_1 GGUF is expanded to F32 and quantized to Q4_K_M by
llama-cpp-python's ``llama_model_quantize`` (in the llama venv the remote tests use;
see tests/engine/remote_servers.py). For this 576-wide model that file holds
Q4_K, Q6_K, Q5_0 and Q8_0 tensors. Hearth converts it at int4 (every tensor on an
exact route) with ``hearth-cli convert FILE --precision int4 --out DIR`` and no
other option, and at fp32 (the same file dequantized). Then:
- with fp32 activations (accuracy_level 1) the int4 graph's perplexity is the fp32
  build's on a 256-token slice of tests/data/ppl_text.txt: the routes carry the
  weights exactly (measured: equal to 4 decimals);
- as shipped (accuracy_level 4, int8 activations, 8 outlier channels per normed
  input in fp32) it lies within 0.5 % of fp32 on 1,024 tokens of both natural
  texts (measured -0.30 % and -0.05 %). Without the outlier channels it is +1.10 %
  and +0.90 % (docs/fidelity.md), so this fails if they stop working.

About 4 minutes on 2 busy cores: the two conversions take 45-90 s each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.events import LoadOptions
from engine.generation.perplexity import perplexity
from engine.runtime.model import load_model
from tests.engine.remote_servers import llama_python

DATA = Path(__file__).resolve().parents[1] / "data"
TEXTS = (DATA / "ppl_text.txt", DATA / "ppl_text_python.txt")  # GPL v3, CPython's LICENSE

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
def test_q4_k_m_converts_exactly_and_keeps_its_perplexity(q4_k_m, tmp_path):
    import gguf

    from engine.convert.pipeline import convert

    types = {t.tensor_type.name for t in gguf.GGUFReader(q4_k_m).tensors}
    assert {"Q4_K", "Q6_K", "Q5_0", "Q8_0"} <= types

    exact = tmp_path / "int4"
    cli = subprocess.run([sys.executable, "-m", "engine.cli", "convert", str(q4_k_m), "--precision", "int4",
                          "--out", str(exact)], capture_output=True, text=True, timeout=900)  # fmt: skip
    assert cli.returncode == 0, cli.stdout[-2000:] + cli.stderr[-2000:]
    reference = convert(q4_k_m, tmp_path / "fp32", precision="fp32")
    meta = json.loads((exact / "hearth.json").read_text(encoding="utf-8"))
    assert meta["route"] == "gguf-exact-per-tensor" and meta["requantized"] == []
    assert meta["exact"]["inexact_correction_blocks"] == 0
    assert meta["exact"]["fp32_channels"] == {"inputs": 61, "channels_per_input": 8}

    options = LoadOptions(threads=2, context_length=2048)
    slice_text = TEXTS[0].read_text(encoding="utf-8")
    at_level_1 = perplexity(load_model(_accuracy_level_1(exact, tmp_path / "acc1"), options), slice_text, max_tokens=256)
    at_fp32 = perplexity(load_model(reference, options), slice_text, max_tokens=256)
    assert abs(at_level_1.perplexity / at_fp32.perplexity - 1) <= 0.0005, (at_level_1, at_fp32)

    shipped, fp32 = load_model(exact, options), load_model(reference, options)
    for path in TEXTS:
        text = path.read_text(encoding="utf-8")
        got, want = perplexity(shipped, text, max_tokens=1024), perplexity(fp32, text, max_tokens=1024)
        assert abs(got.perplexity / want.perplexity - 1) <= 0.005, (path.name, got.perplexity, want.perplexity)


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
