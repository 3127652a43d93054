"""Small checkpoint folders for converter tests."""

from __future__ import annotations

import json
from pathlib import Path


def broken_llama(folder: Path) -> Path:
    """A checkpoint the source check accepts and the builder then rejects (its weights are not safetensors)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "num_hidden_layers": 1, "vocab_size": 128, "max_position_embeddings": 64,
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    return folder
