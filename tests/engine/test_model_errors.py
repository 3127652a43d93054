"""Bad model folders fail with an EngineError a person can act on."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from engine.core.errors import ModelLoadError, UnsupportedModelError
from engine.runtime.model import load_model, read_info


def _copy_small_parts(src: Path, dst: Path) -> Path:
    """A model folder whose big weight file is a link to the real one."""
    dst.mkdir()
    for item in src.iterdir():
        if item.name.endswith(".data"):
            (dst / item.name).symlink_to(item)
        else:
            shutil.copy(item, dst / item.name)
    return dst


def test_truncated_graph_file(default_model_dir, tmp_path):
    folder = _copy_small_parts(default_model_dir, tmp_path / "m")
    graph = folder / "model.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 3])
    with pytest.raises(ModelLoadError, match="not a readable ONNX file.*convert or copy the model again"):
        load_model(folder)


def test_truncated_weights_file(default_model_dir, tmp_path):
    folder = _copy_small_parts(default_model_dir, tmp_path / "m")
    data = folder / "model.onnx.data"
    data.unlink()
    data.write_bytes((default_model_dir / "model.onnx.data").read_bytes()[: 1 << 20])
    with pytest.raises(ModelLoadError, match="truncated or corrupt"):
        load_model(folder)


def test_missing_tokenizer(default_model_dir, tmp_path):
    folder = _copy_small_parts(default_model_dir, tmp_path / "m")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match="no tokenizer.json"):
        load_model(folder)


def test_folder_without_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match="holds no ONNX model"):
        read_info(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="is not a folder"):
        read_info(tmp_path / "nowhere")


def _tiny_graph(inputs: list[str]) -> onnx.ModelProto:
    """A graph with the given inputs and a decoder's outputs, just enough to inspect."""
    kv = [2, 2, "past", 4]
    graph_inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "s"]) for n in inputs]
    graph_inputs += [
        helper.make_tensor_value_info(f"past_key_values.0.{kind}", TensorProto.FLOAT, kv) for kind in ("key", "value")
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s", 8])]
    outputs += [helper.make_tensor_value_info(f"present.0.{kind}", TensorProto.FLOAT, kv) for kind in ("key", "value")]
    nodes = [helper.make_node("Identity", [f"past_key_values.0.{k}"], [f"present.0.{k}"]) for k in ("key", "value")]
    nodes.append(helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Expand", ["ids_f", "shape"], ["logits"]))
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [1, 1, 8])
    return helper.make_model(helper.make_graph(nodes, "g", graph_inputs, outputs, [shape]))


def test_graph_with_unknown_inputs(default_model_dir, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    onnx.save(_tiny_graph(["input_ids", "pixel_values"]), folder / "model.onnx")
    shutil.copy(default_model_dir / "tokenizer.json", folder)
    with pytest.raises(UnsupportedModelError, match="unexpected: pixel_values"):
        load_model(folder)


def test_graph_without_kv_cache(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Cast", ["input_ids"], ["logits"], to=TensorProto.FLOAT)],
            "g",
            [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s"])],
        )
    )
    onnx.save(model, folder / "model.onnx")
    with pytest.raises(UnsupportedModelError, match="past key values"):
        read_info(folder)
