"""Load-time graph edits: lm_head on the last position only, tied weights viewed in place."""

from __future__ import annotations

import pytest

from engine.runtime.graph import inspect_graph, load_graph
from engine.runtime.graph_edits import alias_reshaped_weights, logits_for_trailing_positions
from engine.runtime.memory import release_mapped_files
from engine.runtime.model import head_size_hint, locate


@pytest.fixture
def proto(default_model_dir):
    return load_graph(locate(default_model_dir).graph)


def test_logits_are_computed_for_the_trailing_positions_only(proto):
    assert not inspect_graph(proto, 64).logits_last_only
    assert logits_for_trailing_positions(proto)
    spec = inspect_graph(proto, 64)
    assert spec.logits_last_only and spec.positions_input
    assert not logits_for_trailing_positions(proto)  # already edited: left alone


def test_tied_embedding_reads_the_head_bytes_without_a_copy(proto):
    gather = next(n for n in proto.graph.node if n.op_type == "GatherBlockQuantized")
    reshape = next(n for n in proto.graph.node if gather.input[0] in n.output)
    head = {i.name: i for i in proto.graph.initializer}[reshape.input[0]]
    reshapes = sum(n.op_type == "Reshape" for n in proto.graph.node)
    assert alias_reshaped_weights(proto) == 1
    assert sum(n.op_type == "Reshape" for n in proto.graph.node) == reshapes - 1
    alias = next(i for i in proto.graph.initializer if i.name == gather.input[0])
    assert list(alias.dims) == [head.dims[0], head.dims[1] * head.dims[2]]
    assert alias.external_data == head.external_data  # same file, offset and length


def test_loaded_model_leaves_the_weight_file_mostly_unmapped(loaded_model, default_model_dir):
    # Everything ONNX Runtime repacked was already dropped at load; nothing is left to drop
    # but pages the model touched since (embedding rows), a small fraction of the file.
    data = locate(default_model_dir).graph.with_suffix(".onnx.data")
    resident = _resident_bytes(data)
    assert resident < data.stat().st_size * 0.2
    release_mapped_files(default_model_dir)
    assert _resident_bytes(data) <= resident


def _resident_bytes(path) -> int:
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            inside = line.rstrip().endswith(str(path.resolve()))
        elif inside and fields[0] == "Rss:":
            total += int(fields[1]) * 1024
    return total


def test_head_size_hint_reads_the_genai_config(default_model_dir):
    assert head_size_hint(locate(default_model_dir)) == 64


def test_graph_argmax_matches_numpy_argmax(model):
    ids = model.codec.encode_chat([{"role": "user", "content": "Name a colour."}])
    logits = model.runner.forward(ids)
    assert model.runner.last_argmax == int(logits.argmax())
    logits = model.runner.forward([model.runner.last_argmax])
    assert model.runner.last_argmax == int(logits.argmax())
