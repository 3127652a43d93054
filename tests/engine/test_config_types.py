"""Model folders whose JSON files hold the wrong types: one clear error, never a crash.

One bad folder must not hide the others in ``models list``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine import cli
from engine.core.errors import ModelLoadError
from engine.runtime.model import load_model, read_info

from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture


def _copy(tiny_models: Path, layout: str, dst: Path) -> Path:
    shutil.copytree(tiny_models / layout, dst)
    return dst


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def models_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "home"))
    models = tmp_path / "home" / "data" / "models"
    models.mkdir(parents=True)
    return models


# Every JSON file a model folder holds, with a top-level value of the wrong type.
_TOP_LEVEL = [
    ("genai", "genai_config.json", "[1]"),
    ("genai", "tokenizer_config.json", "[1, 2]"),
    ("optimum", "config.json", '"text"'),
    ("optimum", "generation_config.json", "3"),
    ("optimum", "special_tokens_map.json", "[]"),
    ("optimum", "hearth.json", "null"),
]


@pytest.mark.parametrize("layout,name,text", _TOP_LEVEL)
def test_models_list_shows_a_folder_with_a_wrong_top_level_type_with_its_error(
    tiny_models, models_home, capsys, layout, name, text
):
    _copy(tiny_models, "genai", models_home / "a-good")
    bad = _copy(tiny_models, layout, models_home / "b-bad")
    (bad / name).write_text(text, encoding="utf-8")
    _copy(tiny_models, "optimum", models_home / "c-good")

    assert cli.main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("a-good  ") and "unusable" not in lines[0]
    assert lines[2].startswith("c-good  ") and "unusable" not in lines[2]
    assert lines[1].startswith("b-bad  (unusable: ") and name in lines[1] and "JSON object" in lines[1]


def test_info_on_a_tokenizer_config_that_is_a_list_is_one_error_line(tiny_models, tmp_path, capsys):
    folder = _copy(tiny_models, "genai", tmp_path / "m")
    (folder / "tokenizer_config.json").write_text("[1, 2]", encoding="utf-8")
    assert cli.main(["info", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "tokenizer_config.json" in err and "Traceback" not in err


# Fields the engine reads, each with a value of the wrong type. The error names the field.
_FIELDS = [
    ("genai", "genai_config.json", lambda d: d.update(model=[1]), "model"),
    ("genai", "genai_config.json", lambda d: d["model"].update(decoder="x"), "model.decoder"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(filename=5), "model.decoder.filename"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(head_size="16"), "model.decoder.head_size"),
    ("genai", "genai_config.json", lambda d: d["model"]["decoder"].update(num_attention_heads=[4]),
     "model.decoder.num_attention_heads"),
    ("genai", "genai_config.json", lambda d: d["model"].update(context_length=256.5), "model.context_length"),
    ("genai", "genai_config.json", lambda d: d["model"].update(vocab_size={"n": 1}), "model.vocab_size"),
    ("genai", "genai_config.json", lambda d: d["model"].update(eos_token_id="2"), "model.eos_token_id"),
    ("genai", "genai_config.json", lambda d: d["model"].update(type=3), "model.type"),
    ("optimum", "config.json", lambda d: d.update(architectures="Llama"), "architectures"),
    ("optimum", "config.json", lambda d: d.update(hidden_size=True), "hidden_size"),
    ("optimum", "config.json", lambda d: d.update(max_position_embeddings="256"), "max_position_embeddings"),
    ("optimum", "config.json", lambda d: d.update(head_dim=[16]), "head_dim"),
    ("optimum", "config.json", lambda d: d.update(eos_token_id=[2, "x"]), "eos_token_id"),
    ("optimum", "generation_config.json", lambda d: d.update(eos_token_id={"a": 1}), "eos_token_id"),
]


@pytest.mark.parametrize("layout,name,change,field", _FIELDS)
def test_wrong_field_types_are_a_model_load_error_naming_the_field(tiny_models, tmp_path, layout, name, change, field):
    folder = _copy(tiny_models, layout, tmp_path / "m")
    _edit(folder / name, change)
    with pytest.raises(ModelLoadError) as caught:
        read_info(folder)
    assert name in str(caught.value) and f"'{field}'" in str(caught.value)


_TOKENIZER_FIELDS = [
    (lambda d: d.update(chat_template=5), "chat_template"),
    (lambda d: d.update(chat_template=[1]), "chat_template"),
    (lambda d: d.update(chat_template=[{"name": "default"}]), "chat_template"),
    (lambda d: d.update(chat_template=[]), "chat_template"),
    (lambda d: d.update(eos_token=7), "eos_token"),
    (lambda d: d.update(bos_token={"content": 1}), "bos_token"),
]


@pytest.mark.parametrize("change,field", _TOKENIZER_FIELDS)
def test_wrong_tokenizer_config_fields_are_a_model_load_error_naming_the_field(tiny_models, tmp_path, change, field):
    folder = _copy(tiny_models, "genai", tmp_path / "m")
    _edit(folder / "tokenizer_config.json", change)
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder)
    assert "tokenizer_config.json" in str(caught.value) and f"'{field}'" in str(caught.value)


def test_good_folders_still_load(tiny_models, tmp_path):
    for layout in ("genai", "optimum", "community"):
        info = read_info(_copy(tiny_models, layout, tmp_path / layout))
        assert info.max_context == 256 and info.layers == 2
