"""Repairs between transformers' GGUF config and what the GenAI builder reads.

transformers rebuilds a model config from a GGUF's metadata; the pinned builder
(onnxruntime-genai 0.18) reads some fields in an older shape. The builder loads
``config.json`` through ``AutoConfig``, which normalizes it again, so editing the
file cannot help: the repairs patch the loaded config object inside the
builder's own child process (``child_process.python_script``). None of
them changes what the model computes; the values are the ones transformers runs
the GGUF with, which is the greedy reference.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

NOTES_FILE = "hearth_config_repairs.json"


def _gemma3_rope_per_layer_type(config: Any) -> list[str]:
    """Gemma 3: transformers 5 keeps ``rope_parameters`` per layer type.

    ``{"full_attention": {...}, "sliding_attention": {...}}``. The builder's base
    reader wants one flat dict and fails with ``KeyError: 'rope_type'``; its Gemma 3
    class reads the sliding layers' theta from ``rope_local_base_freq``, an
    attribute transformers 5 folds away. The full-attention parameters become the
    flat dict and the sliding theta goes back to ``rope_local_base_freq``.
    """
    rope = getattr(config, "rope_parameters", None)
    if not isinstance(rope, dict) or "full_attention" not in rope:
        return []
    full, sliding = dict(rope["full_attention"]), dict(rope.get("sliding_attention") or {})
    object.__setattr__(config, "rope_parameters", full)
    object.__setattr__(config, "rope_local_base_freq", sliding.get("rope_theta", 10_000.0))
    return [f"gemma3: rope parameters per layer type -> flat {full}, rope_local_base_freq {config.rope_local_base_freq}"]


def _phi3_plain_rope(config: Any) -> list[str]:
    """Phi-3: the context length read from the GGUF is the one the model runs with.

    transformers fills ``max_position_embeddings`` from the GGUF's context length
    and leaves ``original_max_position_embeddings`` at its 4096 default. When the
    two differ the builder picks its long-RoPE Phi-3 class, which wants the 128k
    models' short and long factors and fails with ``KeyError: 'multi_cache'``.
    transformers does not read those factors from a GGUF either (it runs plain
    rope), so setting the original length equal to the context length makes the
    builder use plain rope too: the same model as the greedy reference.
    """
    context = getattr(config, "max_position_embeddings", None)
    if context is None or getattr(config, "original_max_position_embeddings", None) == context:
        return []
    old = getattr(config, "original_max_position_embeddings", None)
    object.__setattr__(config, "original_max_position_embeddings", context)
    return [f"phi3: original_max_position_embeddings {old} -> {context} (the context length; plain rope)"]


def _nemotron_norm_eps(config: Any) -> list[str]:
    """Nemotron: the LayerNorm epsilon is ``norm_eps``; the builder reads ``rms_norm_eps``.

    ``NemotronConfig`` has no ``rms_norm_eps``, so the builder would fall back to
    1e-6 while transformers normalizes with ``norm_eps`` (1e-5 by default, or the
    file's value): the builder is given the same epsilon.
    """
    eps = getattr(config, "norm_eps", None)
    if eps is None or getattr(config, "rms_norm_eps", None) == eps:
        return []
    object.__setattr__(config, "rms_norm_eps", eps)
    return [f"nemotron: rms_norm_eps -> {eps} (norm_eps, the LayerNorm epsilon transformers uses)"]


# model_type (as transformers names it) -> repairs, in order
REPAIRS: dict[str, tuple[Callable[[Any], list[str]], ...]] = {
    "gemma3_text": (_gemma3_rope_per_layer_type,),
    "phi3": (_phi3_plain_rope,),
    "nemotron": (_nemotron_norm_eps,),
}


def repair(config: Any) -> list[str]:
    """Apply the repairs for ``config.model_type`` in place; return what changed."""
    notes: list[str] = []
    for fix in REPAIRS.get(str(getattr(config, "model_type", "")), ()):
        notes += fix(config)
    return notes


def run_builder(argv: list[str]) -> None:
    """Run ``onnxruntime_genai.models.builder`` with ``argv``, repairing configs as they load.

    The notes go to ``NOTES_FILE`` in the input folder (``-i``), for hearth.json.
    """
    import transformers

    source = Path(argv[argv.index("-i") + 1])
    original = transformers.AutoConfig.from_pretrained.__func__  # type: ignore[attr-defined]

    def patched(cls: Any, *args: Any, **kwargs: Any) -> Any:
        config = original(cls, *args, **kwargs)
        notes = repair(config)
        if notes:
            (source / NOTES_FILE).write_text(json.dumps(notes), encoding="utf-8")
        return config

    transformers.AutoConfig.from_pretrained = classmethod(patched)  # type: ignore[method-assign]
    sys.argv = ["onnxruntime_genai.models.builder", *argv]
    runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__", alter_sys=True)


def read_notes(source: Path) -> list[str]:
    """The repairs the builder child applied for ``source``, if any."""
    path = source / NOTES_FILE
    return list(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else []


if __name__ == "__main__":
    # Run by path (child_process.python_script), so the child uses this very file and
    # needs nothing from engine: only the standard library and transformers.
    run_builder(sys.argv[1:])
