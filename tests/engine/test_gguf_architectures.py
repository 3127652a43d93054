"""Tiny random GGUFs per architecture: Hearth converts them with every tensor's own grid.

For each architecture (tests/engine/tiny_gguf.py, a Q4_K_M-like mix plus the
fallback and float types) the converted graph's effective weights must equal
gguf's dequantized weights bit for bit, and greedy ids for 32 tokens must equal
transformers fp32 on the same file. The comparison graph runs MatMulNBits at
accuracy_level 1 (fp32 activations): at level 4 int8 activations could flip an
argmax on a random model's near-flat logits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.engine import tiny_gguf
from tests.engine.tiny_models import tiny_models_dir

pytestmark = pytest.mark.slow
PROMPT = [5, 6, 7, 8, 9, 10]


def _accuracy_level_1(folder: Path, out: Path) -> Path:
    import onnx

    shutil.copytree(folder, out)
    model = onnx.load(str(out / "model.onnx"), load_external_data=True)
    for node in model.graph.node:
        for a in node.attribute:
            if node.op_type == "MatMulNBits" and a.name == "accuracy_level":
                a.i = 1
    (out / "model.onnx.data").unlink()
    onnx.save_model(model, str(out / "model.onnx"), save_as_external_data=True, location="model.onnx.data")
    return out


def _transformers_greedy(path: Path, n: int) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    with torch.no_grad():
        out = model.generate(torch.tensor([PROMPT]), max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)
    return out[0, len(PROMPT) :].tolist()


@pytest.mark.parametrize("arch", sorted(tiny_gguf.ARCHITECTURES))
def test_architecture_converts_exactly(arch: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime_genai")
    from engine.convert.exact_check import verify
    from engine.convert.gguf_source import GGUFSource
    from engine.convert.pipeline import convert
    from engine.core.events import LoadOptions, SamplingParams
    from engine.generation.generate import stream_generate
    from engine.runtime.model import load_model

    src = tiny_gguf.write(tmp_path / f"tiny-{arch}.gguf", arch, tiny_models_dir() / "hf" / "tokenizer.json")
    folder = convert(src, tmp_path / "out", precision="int4")
    meta = json.loads((folder / "hearth.json").read_text())
    assert meta["route"] == "gguf-exact-per-tensor" and meta["requantized"] == []
    assert meta["exact"]["inexact_correction_blocks"] == 0
    first = tiny_gguf.layer_types(arch)[0]
    assert meta["source_weights"] == first.get("attn_q", first.get("attn_qkv"))
    report = verify(GGUFSource(src), folder)
    assert report["nodes"] == 2 * tiny_gguf.builder_nodes_per_layer(arch) + 1 and report["bit_exact"] == report["nodes"], report

    model = load_model(_accuracy_level_1(folder, tmp_path / "acc1"), LoadOptions(threads=2, context_length=128))
    params = SamplingParams(max_new_tokens=32, ignore_eos=True)
    ours = [e.token_id for e in stream_generate(model, PROMPT, params) if e.token_id is not None]
    assert ours == _transformers_greedy(src, 32)


def _gguf_claiming(path: Path, arch: str) -> Path:
    """A GGUF whose metadata names ``arch``, with one placeholder tensor."""
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_tensor("w", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_unsupported_gemma1_gguf_is_refused_by_name(tmp_path: Path) -> None:
    """transformers has no GGUF loader for Gemma 1: refused up front, naming the supported ones."""
    from engine.convert.gguf_source import GGUFSource
    from engine.core.errors import ConversionError

    path = _gguf_claiming(tmp_path / "g.gguf", "gemma")
    with pytest.raises(ConversionError, match="'gemma' model; Hearth can convert only gemma2, gemma3, llama"):
        GGUFSource(path)


def test_mistral_gguf_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """gguf has no "mistral" architecture (llama.cpp writes Mistral as "llama") and transformers cannot load one.

    When transformers starts loading such files this test fails, and mistral can
    be claimed again with a tiny GGUF in tiny_gguf.ARCHITECTURES.
    """
    pytest.importorskip("transformers")
    from transformers import AutoModelForCausalLM

    from engine import cli

    path = _gguf_claiming(tmp_path / "m.gguf", "mistral")
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "home"))
    assert cli.main(["convert", str(path)]) != 0
    err = capsys.readouterr().err
    assert "'mistral' model; Hearth can convert only gemma2, gemma3, llama, nemotron, phi3, qwen2, qwen3" in err
    assert "Traceback" not in err
    with pytest.raises(NotImplementedError, match="Unknown gguf model_type: mistral"):
        AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name)


def test_claimed_architectures_are_the_tested_ones() -> None:
    from engine.convert.gguf_source import SUPPORTED_ARCHITECTURES

    assert SUPPORTED_ARCHITECTURES == set(tiny_gguf.ARCHITECTURES)


def test_fused_tensor_left_requantized_is_listed_once(tmp_path: Path) -> None:
    """Phi-3's attn_qkv feeds three parts of one node and its ffn_up two nodes: each is listed once."""
    gguf = pytest.importorskip("gguf")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from engine.convert import exact_graph
    from engine.convert.gguf_source import GGUFSource

    path = tmp_path / "phi3.gguf"
    writer = gguf.GGUFWriter(str(path), "phi3")
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_feed_forward_length(64)  # ffn_up's 128 rows are gate and up stacked
    q2_k = gguf.GGMLQuantizationType.Q2_K  # no exact route: every node stays as the builder made it
    for name, rows in (("blk.0.attn_qkv.weight", 4 * 32), ("blk.0.ffn_up.weight", 2 * 64)):
        raw = np.zeros((rows, 84), np.uint8)  # one 84-byte Q2_K block per row of 256
        writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=q2_k)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    nodes, inits, outputs = [], [], []
    for proj in ("attn/qkv_proj", "mlp/gate_proj", "mlp/up_proj"):
        base = f"/model/layers.0/{proj}/MatMul"
        nodes.append(helper.make_node("MatMulNBits", ["x", f"{base}.w", f"{base}.s"], [f"{base}/out"], name=base,
                                      domain="com.microsoft", K=256, N=64, bits=4, block_size=32))  # fmt: skip
        inits += [numpy_helper.from_array(np.zeros((64, 8, 16), np.uint8), f"{base}.w"),
                  numpy_helper.from_array(np.ones(64 * 8, np.float32), f"{base}.s")]  # fmt: skip
        outputs.append(helper.make_tensor_value_info(f"{base}/out", TensorProto.FLOAT, None))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])
    graph = helper.make_graph(nodes, "g", [x], outputs, inits)
    onnx.save_model(helper.make_model(graph), str(tmp_path / "model.onnx"))

    summary = exact_graph.apply(GGUFSource(path), tmp_path)
    assert summary["requantized"] == ["blk.0.attn_qkv.weight", "blk.0.ffn_up.weight"]
