"""A model folder may only name files inside itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from engine.core.errors import ModelLoadError
from engine.runtime.model import load_model, read_info

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture


@pytest.fixture
def folders(tiny_models, tmp_path) -> tuple[Path, Path]:
    """A model folder to damage, and a good model outside it."""
    outside = shutil.copytree(tiny_models / "genai", tmp_path / "outside")
    model = shutil.copytree(tiny_models / "genai", tmp_path / "models" / "m")
    (model / "model.onnx").unlink()
    (model / "model.onnx.data").unlink()
    return model, outside


def _name_graph(folder: Path, name: str) -> None:
    path = folder / "genai_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["model"]["decoder"]["filename"] = name
    path.write_text(json.dumps(config), encoding="utf-8")


def _refused(folder: Path, *words: str) -> None:
    for load in (read_info, load_model):
        with pytest.raises(ModelLoadError) as caught:
            load(folder)
        assert all(word in str(caught.value) for word in words), str(caught.value)


def test_dot_dot_in_decoder_filename_is_refused(folders):
    model, _ = folders
    _name_graph(model, "../../outside/model.onnx")
    _refused(model, "'model.decoder.filename'", "outside the model folder")


def test_absolute_decoder_filename_is_refused(folders):
    model, outside = folders
    _name_graph(model, str(outside / "model.onnx"))
    _refused(model, "'model.decoder.filename'", "absolute path")


def test_symlink_out_of_the_folder_is_refused(folders):
    model, outside = folders
    (model / "link.onnx").symlink_to(outside / "model.onnx")
    _name_graph(model, "link.onnx")
    _refused(model, "'model.decoder.filename'", "outside the model folder")


def test_symlinked_subfolder_out_of_the_folder_is_refused(folders):
    model, outside = folders
    (model / "sub").symlink_to(outside, target_is_directory=True)
    _name_graph(model, "sub/model.onnx")
    _refused(model, "'model.decoder.filename'", "outside the model folder")


def test_a_graph_in_a_subfolder_inside_still_loads(folders):
    model, outside = folders
    (model / "sub").mkdir()
    for name in ("model.onnx", "model.onnx.data"):
        shutil.copy(outside / name, model / "sub" / name)
    _name_graph(model, "sub/model.onnx")
    assert read_info(model).layers == 2
    assert load_model(model).runner is not None


def test_external_weights_outside_the_folder_are_refused(folders):
    model, outside = folders
    shutil.copy(outside / "model.onnx", model / "model.onnx")
    (outside / "model.onnx.data").rename(model.parent / "weights.data")
    graph = onnx.load(str(model / "model.onnx"), load_external_data=False)
    for init in graph.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = "../weights.data"
    onnx.save(graph, str(model / "model.onnx"))
    _refused(model, "model.onnx", "'location of the weight", "outside the model folder")
