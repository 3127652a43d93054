"""Check a model folder's JSON files before anything reads a field from them.

Every JSON file a folder holds must be an object, and every field the engine uses
must have the right type and a sane value; otherwise a ``ModelLoadError`` names the
file and the field. Values the graph also fixes (layers, KV heads, head size) must
agree with it: the graph is what runs, so a config that disagrees is broken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.config_files import read_json
from engine.core.errors import ModelLoadError

if TYPE_CHECKING:  # the tokenizer checks its config without importing onnx
    from engine.runtime.graph import GraphSpec

# Upper bounds well beyond any real model and far below absurd ones (10**12
# tokens of context would ask for petabytes of KV cache).
MAX_CONTEXT = 1 << 24
_MAX_HEAD_SIZE = 1 << 14
_MAX_HIDDEN = 1 << 18
_MAX_HEADS = 1 << 12
_MAX_LAYERS = 1 << 12
_MAX_VOCAB = 1 << 24
_MAX_TOKEN_ID = 1 << 31

_DECODER_COUNTS = {
    "head_size": _MAX_HEAD_SIZE,
    "hidden_size": _MAX_HIDDEN,
    "num_attention_heads": _MAX_HEADS,
    "num_key_value_heads": _MAX_HEADS,
    "num_hidden_layers": _MAX_LAYERS,
}
_HF_COUNTS = {
    "head_dim": _MAX_HEAD_SIZE,
    "hidden_size": _MAX_HIDDEN,
    "num_attention_heads": _MAX_HEADS,
    "num_key_value_heads": _MAX_HEADS,
    "num_hidden_layers": _MAX_LAYERS,
    "vocab_size": _MAX_VOCAB,
    "max_position_embeddings": MAX_CONTEXT,
}
_TOKEN_FIELDS = ("bos_token", "eos_token", "pad_token", "unk_token")


@dataclass(frozen=True)
class FolderConfigs:
    """The configs the engine reads, each checked (``{}`` for an absent file)."""

    genai: dict
    config: dict
    generation: dict
    hearth: dict


def read_configs(folder: Path) -> FolderConfigs:
    """Read and check every JSON file of a model folder."""
    genai = read_json(folder / "genai_config.json")
    config = read_json(folder / "config.json")
    generation = read_json(folder / "generation_config.json")
    check_genai_config(genai, folder / "genai_config.json")
    check_hf_config(config, folder / "config.json")
    _check_token_ids(generation, "eos_token_id", folder / "generation_config.json", "eos_token_id")
    check_tokenizer_config(read_json(folder / "tokenizer_config.json"), folder / "tokenizer_config.json")
    special = read_json(folder / "special_tokens_map.json")
    for key in _TOKEN_FIELDS:
        _check_token_text(special, key, folder / "special_tokens_map.json")
    hearth = read_json(folder / "hearth.json")
    for key in ("route", "precision", "source_kind"):
        _text(hearth, key, folder / "hearth.json", key)
    requantized = hearth.get("requantized")
    if requantized is not None and not (
        isinstance(requantized, list) and all(isinstance(n, str) and n for n in requantized)
    ):
        _fail(folder / "hearth.json", "requantized", requantized, "a list of tensor names")
    return FolderConfigs(genai, config, generation, hearth)


def check_genai_config(genai: dict, path: Path) -> None:
    model = _object(genai, "model", path, "model")
    decoder = _object(model, "decoder", path, "model.decoder")
    _text(decoder, "filename", path, "model.decoder.filename")
    for key, upper in _DECODER_COUNTS.items():
        _count(decoder, key, path, f"model.decoder.{key}", upper)
    _count(model, "context_length", path, "model.context_length", MAX_CONTEXT)
    _count(model, "vocab_size", path, "model.vocab_size", _MAX_VOCAB)
    _check_token_ids(model, "eos_token_id", path, "model.eos_token_id")
    _text(model, "type", path, "model.type")


def check_hf_config(config: dict, path: Path) -> None:
    for key, upper in _HF_COUNTS.items():
        _count(config, key, path, key, upper)
    architectures = config.get("architectures")
    if architectures is not None and not (
        isinstance(architectures, list) and all(isinstance(a, str) for a in architectures)
    ):
        _fail(path, "architectures", architectures, "a list of names")
    _check_token_ids(config, "eos_token_id", path, "eos_token_id")


def check_tokenizer_config(config: dict, path: Path) -> None:
    """``chat_template`` is text or a non-empty list of named templates; tokens are text."""
    template = config.get("chat_template")
    if isinstance(template, list):
        if not template or not all(isinstance(t, dict) and isinstance(t.get("template"), str) for t in template):
            _fail(path, "chat_template", template, 'text, or a list of {"name": ..., "template": "..."} objects')
    elif template is not None and not isinstance(template, str):
        _fail(path, "chat_template", template, "text")
    for key in _TOKEN_FIELDS:
        _check_token_text(config, key, path)


def check_against_graph(genai: dict, config: dict, spec: GraphSpec, folder: Path) -> None:
    """The configs' layer count, KV heads and head size must be the graph's."""
    decoder = genai.get("model", {}).get("decoder", {})
    sources = [
        (decoder, folder / "genai_config.json", "model.decoder.", "head_size"),
        (config, folder / "config.json", "", "head_dim"),
    ]
    for data, path, prefix, head_key in sources:
        expected = {"num_hidden_layers": spec.num_layers, "num_key_value_heads": spec.kv_heads, head_key: spec.head_size}
        for key, value in expected.items():
            if data.get(key) is not None and data[key] != value:
                _mismatch(path, prefix + key, data[key], value)
        heads = data.get("num_attention_heads")
        if heads is not None and heads % spec.kv_heads:
            raise ModelLoadError(
                f"{path} has '{prefix}num_attention_heads' = {heads}, which is not a multiple of the graph's "
                f"{spec.kv_heads} key-value heads. Fix that field, or convert the model again."
            )


def _mismatch(path: Path, field: str, value: object, graph_value: int) -> None:
    raise ModelLoadError(
        f"{path} has '{field}' = {_show(value)}, but the model's graph has {graph_value}. "
        "The config does not belong to this graph: fix that field, or convert the model again."
    )


def _fail(path: Path, field: str, value: object, what: str) -> None:
    raise ModelLoadError(
        f"{path} has '{field}' = {_show(value)}, but it must be {what}. "
        "Fix or remove that field, or convert or copy the model again."
    )


def _show(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _object(data: dict, key: str, path: Path, field: str) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(path, field, value, "an object ({...})")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(data: dict, key: str, path: Path, field: str, upper: int) -> None:
    value = data.get(key)
    if value is not None and not (_is_int(value) and 1 <= value <= upper):
        _fail(path, field, value, f"a whole number from 1 to {upper}")


def _text(data: dict, key: str, path: Path, field: str) -> None:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and value):
        _fail(path, field, value, "non-empty text")


def _check_token_ids(data: dict, key: str, path: Path, field: str) -> None:
    value = data.get(key)
    values = value if isinstance(value, list) else [value]
    if value is not None and not all(_is_int(v) and 0 <= v < _MAX_TOKEN_ID for v in values):
        _fail(path, field, value, "a token id or a list of token ids")


def _check_token_text(data: dict, key: str, path: Path) -> None:
    value = data.get(key)
    text = value.get("content") if isinstance(value, dict) else value  # an AddedToken dict
    if text is not None and not isinstance(text, str):
        _fail(path, key, value, 'text, or an object with "content" text')
