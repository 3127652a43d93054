"""Repairs between transformers' GGUF config and what the GenAI builder reads.

transformers rebuilds a ``config.json`` from a GGUF's metadata; the pinned
builder (onnxruntime-genai 0.18) reads some fields in an older shape. Each
repair below names the difference it bridges. They run on the exported folder
before the builder, and never change what the model computes: the values are
the ones transformers itself runs the GGUF with (the greedy reference).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Config = dict[str, Any]


def _per_layer_type_rope(config: Config) -> list[str]:
    """Gemma 3: transformers 5 writes ``rope_parameters`` per layer type.

    ``{"full_attention": {...}, "sliding_attention": {...}}``; the builder's
    base reader expects one flat dict and fails with ``KeyError: 'rope_type'``.
    Its Gemma 3 class takes the sliding layers' theta from
    ``rope_local_base_freq`` instead, so the full-attention parameters become
    the flat dict and the sliding theta moves there.
    """
    rope = config.get("rope_parameters")
    if not isinstance(rope, dict) or "full_attention" not in rope:
        return []
    full, sliding = rope["full_attention"], rope.get("sliding_attention", {})
    config["rope_parameters"] = dict(full)
    if "rope_theta" in sliding:
        config["rope_local_base_freq"] = sliding["rope_theta"]
    return [f"rope parameters per layer type flattened (full: {full.get('rope_type')}, local theta {sliding.get('rope_theta')})"]


def _flat_rope_type(config: Config) -> list[str]:
    """Llama, Qwen 2/3, Phi-3: a flat ``rope_parameters`` without ``rope_type`` means default.

    transformers treats a missing type as ``default``; the builder indexes it.
    """
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and "full_attention" not in rope and "rope_type" not in rope:
        rope["rope_type"] = "default"
        return ["rope_type 'default' made explicit"]
    return []


# model_type (as transformers writes it) -> repairs, in order
REPAIRS: dict[str, tuple[Callable[[Config], list[str]], ...]] = {
    "gemma3_text": (_per_layer_type_rope,),
}
COMMON: tuple[Callable[[Config], list[str]], ...] = (_flat_rope_type,)


def repair(hf_dir: Path) -> list[str]:
    """Apply the repairs for ``hf_dir``'s model type to its config.json; return what changed."""
    path = hf_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    notes: list[str] = []
    for fix in (*REPAIRS.get(str(config.get("model_type")), ()), *COMMON):
        notes += fix(config)
    if notes:
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return notes
