"""Listing models reads no weights, and a folder whose files did not change is not read again."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import engine.runtime.graph
import engine.runtime.model
from engine import cli
from engine.runtime.model import read_info

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture

MB = 1 << 20
BIG = 64 * MB


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "home"))
    models = tmp_path / "home" / "data" / "models"
    models.mkdir(parents=True)
    return models


@pytest.fixture
def heavy_model(tiny_models, home) -> Path:
    """The optimum tiny model with a 64 MB weight stored inline in model.onnx."""
    folder = shutil.copytree(tiny_models / "optimum", home / "heavy")
    graph = onnx.load(str(folder / "model.onnx"))
    graph.graph.initializer.append(numpy_helper.from_array(np.ones(BIG // 4, dtype=np.float32), "padding"))
    onnx.save(graph, str(folder / "model.onnx"))
    assert (folder / "model.onnx").stat().st_size > BIG
    return folder


@pytest.fixture
def graph_reads(monkeypatch) -> list[str]:
    """Every time listing opens a graph file, by any route."""
    calls: list[str] = []
    real_load = onnx.load

    def counting_load(path, *args, **kwargs):
        calls.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(engine.runtime.graph.onnx, "load", counting_load)
    real_outline = getattr(engine.runtime.model, "read_outline", None)
    if real_outline is not None:

        def counting_outline(path):
            calls.append(str(path))
            return real_outline(path)

        monkeypatch.setattr(engine.runtime.model, "read_outline", counting_outline)
    return calls


def test_listing_a_graph_with_inline_weights_reads_none_of_them(heavy_model):
    tracemalloc.start()
    try:
        info = read_info(heavy_model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB, f"listing allocated {peak / MB:.0f} MB for a {BIG / MB:.0f} MB graph"
    assert info.layers == 2 and info.parameters > BIG // 4  # the big weight is still counted
    assert info.size_bytes > BIG


def test_the_second_listing_reads_no_graph(heavy_model, home, graph_reads, capsys):
    assert cli.main(["models", "list"]) == 0
    first = capsys.readouterr().out
    assert len(graph_reads) == 1
    assert cli.main(["models", "list"]) == 0
    assert capsys.readouterr().out == first  # same line, from the cache
    assert len(graph_reads) == 1
    assert list((home.parent.parent / "cache").rglob("*.json"))  # kept under the cache dir


def test_a_changed_folder_is_read_again(heavy_model, graph_reads):
    before = read_info(heavy_model)
    assert len(graph_reads) == 1
    graph = onnx.load(str(heavy_model / "model.onnx"), load_external_data=False)
    graph.graph.initializer.pop()  # drop the padding weight
    onnx.save(graph, str(heavy_model / "model.onnx"))
    os.utime(heavy_model / "model.onnx", ns=(1, 1))
    graph_reads.clear()
    after = read_info(heavy_model)
    assert len(graph_reads) == 1
    assert after.parameters == before.parameters - BIG // 4


def test_a_damaged_cache_file_is_ignored(heavy_model, home, graph_reads):
    first = read_info(heavy_model)
    for cached in (home.parent.parent / "cache").rglob("*.json"):
        cached.write_text("[1", encoding="utf-8")
    assert read_info(heavy_model) == first
    assert len(graph_reads) == 2
