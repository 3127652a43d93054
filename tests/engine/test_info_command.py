"""`hearth-cli info`: its rows keep their order, and the last one lists what the converter re-quantized.

The re-quantized tensors come from the folder's hearth.json, read by the runtime
(never by importing the converter).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine import cli
from engine.core.errors import ModelLoadError
from engine.runtime.model import read_info

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture

# The rows scripts may read, in order; "est. memory at N ctx" names the context.
_ROWS = [
    "name", "path", "layout", "architecture", "parameters", "layers / heads / kv heads / head size",
    "precision", "max context", "size on disk", "est. memory at 256 ctx", "provider", "fallbacks",
    "load time", "requantized",
]  # fmt: skip


def _folder(tiny_models: Path, tmp_path: Path, hearth: dict | None) -> Path:
    folder = tmp_path / "m"
    shutil.copytree(tiny_models / "genai", folder)
    if hearth is not None:
        (folder / "hearth.json").write_text(json.dumps(hearth), encoding="utf-8")
    return folder


def _rows(folder: Path, capsys) -> dict[str, str]:
    assert cli.main(["info", str(folder), "--context", "256"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split(": ", 1)[0].strip() for line in lines]
    assert keys == _ROWS
    return {k: line.split(": ", 1)[1] for k, line in zip(keys, lines)}


@pytest.mark.parametrize(
    "hearth,shown",
    [
        ({"route": "gguf-exact-per-tensor", "requantized": []}, "none"),
        ({"route": "gguf-exact-per-tensor", "requantized": ["blk.0.attn_q.weight"]}, "1 tensor: blk.0.attn_q.weight"),
        ({"route": "builder-int4"}, "not recorded (route builder-int4)"),
        ({"route": "q4_1-exact-4bit-blocksum"}, "none"),  # the default model's first route
        (None, "not recorded"),
    ],
)
def test_info_ends_with_the_requantized_tensors(tiny_models, tmp_path, capsys, hearth, shown):
    rows = _rows(_folder(tiny_models, tmp_path, hearth), capsys)
    assert rows["requantized"] == shown


def test_info_counts_a_long_list_and_names_the_first(tiny_models, tmp_path, capsys):
    names = [f"blk.{i}.ffn_down.weight" for i in range(11)]
    rows = _rows(_folder(tiny_models, tmp_path, {"requantized": names}), capsys)
    assert rows["requantized"] == "11 tensors: " + ", ".join(names[:8]) + ", and 3 more (hearth.json)"


def test_model_info_carries_the_list(tiny_models, tmp_path):
    info = read_info(_folder(tiny_models, tmp_path, {"route": "r", "requantized": ["a", "b"]}))
    assert info.requantized == ("a", "b") and info.route == "r"


@pytest.mark.parametrize("value", ["blk.0.attn_q.weight", [1], [""], {"a": 1}])
def test_a_requantized_field_of_the_wrong_type_is_an_error_naming_it(tiny_models, tmp_path, value):
    with pytest.raises(ModelLoadError) as caught:
        read_info(_folder(tiny_models, tmp_path, {"requantized": value}))
    assert "hearth.json" in str(caught.value) and "'requantized'" in str(caught.value)
