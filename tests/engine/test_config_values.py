"""Config values that are absurd, or that the graph contradicts, are a ModelLoadError naming the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.core.errors import ModelLoadError
from engine.runtime.model import load_model, read_info

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture


def _folder(tiny_models: Path, layout: str, dst: Path, name: str, change) -> Path:
    shutil.copytree(tiny_models / layout, dst)
    data = json.loads((dst / name).read_text(encoding="utf-8"))
    change(data)
    (dst / name).write_text(json.dumps(data), encoding="utf-8")
    return dst


_ABSURD = [
    ("genai", "genai_config.json", lambda d: d["model"].update(context_length=10**12), "model.context_length"),
    ("genai", "genai_config.json", lambda d: d["model"].update(context_length=-5), "model.context_length"),
    ("genai", "genai_config.json", lambda d: d["model"].update(context_length=0), "model.context_length"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(head_size=-64), "model.decoder.head_size"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(num_key_value_heads=3),
     "model.decoder.num_key_value_heads"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(num_hidden_layers=30),
     "model.decoder.num_hidden_layers"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(num_attention_heads=5),
     "model.decoder.num_attention_heads"),
    ("optimum", "config.json", lambda d: d.update(max_position_embeddings=10**12), "max_position_embeddings"),
    ("optimum", "config.json", lambda d: d.update(max_position_embeddings=-5), "max_position_embeddings"),
    ("optimum", "config.json", lambda d: d.update(head_dim=-64), "head_dim"),
    # The optimum graph fixes its head size (16): a config that says otherwise is wrong.
    ("optimum", "config.json", lambda d: d.update(head_dim=32), "head_dim"),
    ("optimum", "config.json", lambda d: d.update(num_key_value_heads=4), "num_key_value_heads"),
    ("optimum", "config.json", lambda d: d.update(vocab_size=-1), "vocab_size"),
]


@pytest.mark.parametrize("layout,name,change,field", _ABSURD)
def test_listing_refuses_absurd_values_naming_the_field(tiny_models, tmp_path, layout, name, change, field):
    folder = _folder(tiny_models, layout, tmp_path / "m", name, change)
    with pytest.raises(ModelLoadError) as caught:
        read_info(folder)
    assert f"'{field}'" in str(caught.value) and name in str(caught.value)


@pytest.mark.parametrize("layout,name,change,field", _ABSURD)
def test_loading_refuses_absurd_values_naming_the_field(tiny_models, tmp_path, layout, name, change, field):
    # Loading used to clamp -5 silently, and a head size of -64 ended in a traceback
    # from building the runner.
    folder = _folder(tiny_models, layout, tmp_path / "m", name, change)
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder)
    assert f"'{field}'" in str(caught.value)


def test_sane_values_still_load(tiny_models, tmp_path):
    folder = _folder(tiny_models, "genai", tmp_path / "m", "genai_config.json", lambda d: d["model"].update(context_length=128))
    model = load_model(folder)
    assert model.info.max_context == 128 and model.context_length == 128
