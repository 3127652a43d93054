"""A tiny random Llama, exported to all three model-folder layouts Hearth opens.

The build needs the ``[convert]`` extra (torch, transformers, onnx, the GenAI
builder) and takes 10-20 s, so its result is cached under
``<repo>/.hearth-dev/tiny-models/<RECIPE_VERSION>/``. Change ``RECIPE_VERSION``
whenever the recipe changes, and the next run rebuilds. Use the ``tiny_models``
fixture by importing it into a test module.

Folders built (all from one HF checkpoint with fixed random weights):
- ``hf``: the transformers checkpoint, the independent reference.
- ``genai``: ``onnxruntime_genai.models.builder -p fp32 -e cpu`` (GroupQueryAttention).
- ``optimum``: ``model.onnx`` with optimum's input and output names, exported
  here with ``torch.onnx.export`` because optimum pins an older transformers.
- ``community``: the same graph as ``onnx/model.onnx``.
- ``community-external``: the same graph, weights in ``onnx/model.onnx_data``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

RECIPE_VERSION = "llama-h64-l2-v2"
REPO = Path(__file__).resolve().parents[2]
CACHE_ROOT = REPO / ".hearth-dev" / "tiny-models"
LAYOUTS = ("genai", "optimum", "community", "community-external")

SEED = 1
# Random weights at the default 0.02 scale give nearly flat logits, where greedy
# picks are ties decided by rounding. This scale and seed keep every top-2 gap
# on the tests' prompts above 0.01, a thousand times float32's error.
INIT_RANGE = 0.4
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_CORPUS = """
The hearth keeps the house warm through the long winter night. A small model runs on
the desk beside it, answering questions about the weather, the garden and the stars.
Tokens flow one after another; the cache remembers what came before, so each new
word costs only a little work. Users ask, the model replies, and the fire crackles on.
Numbers like 1, 2, 3, 42 and 2048 appear too, with punctuation: commas, colons; dots.
"""

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(scope="session", name="tiny_models")
def tiny_models_fixture() -> Path:
    """The built folders (skips when the ``[convert]`` extra is not installed)."""
    for module in ("torch", "transformers", "onnx", "onnxruntime_genai"):
        pytest.importorskip(module, reason="building the tiny models needs the [convert] extra")
    return tiny_models_dir()


def tiny_models_dir() -> Path:
    """The folder holding every layout, built on first use."""
    root = CACHE_ROOT / RECIPE_VERSION
    if not (root / "done").is_file():
        if root.exists():
            shutil.rmtree(root)
        stage = CACHE_ROOT / f"{RECIPE_VERSION}.partial"
        if stage.exists():
            shutil.rmtree(stage)
        build(stage)
        (stage / "done").write_text("ok\n", encoding="utf-8")
        stage.rename(root)
    return root


def build(root: Path) -> None:
    """Build every layout under ``root``."""
    hf = root / "hf"
    save_tokenizer(hf)
    model = save_checkpoint(hf)
    export_genai(hf, root / "genai", root / "genai-cache")
    optimum = root / "optimum"
    export_optimum(model, optimum / "model.onnx")
    _copy_side_files(hf, optimum)
    community = root / "community"
    (community / "onnx").mkdir(parents=True)
    shutil.copy2(optimum / "model.onnx", community / "onnx" / "model.onnx")
    _copy_side_files(hf, community)
    external = root / "community-external"
    (external / "onnx").mkdir(parents=True)
    save_external(optimum / "model.onnx", external / "onnx" / "model.onnx")
    _copy_side_files(hf, external)


def save_tokenizer(folder: Path) -> None:
    """A byte-level BPE trained on a few sentences, with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS.split("\n"), trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "pad_token": "<|im_end|>",
        "unk_token": "<|endoftext|>",
        "model_max_length": 256,
        "chat_template": CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def save_checkpoint(folder: Path):
    """A 2-layer Llama with seeded random weights, saved as an HF folder."""
    import torch
    from tokenizers import Tokenizer
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    bos, eos = tokenizer.token_to_id("<|im_start|>"), tokenizer.token_to_id("<|im_end|>")
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=INIT_RANGE,
        tie_word_embeddings=False,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    model.save_pretrained(folder)
    GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=eos).save_pretrained(folder)
    return model


def export_genai(hf: Path, out: Path, cache: Path) -> None:
    """Run the ONNX Runtime GenAI model builder (fp32, CPU)."""
    cmd = [
        sys.executable, "-m", "onnxruntime_genai.models.builder",
        "-i", str(hf), "-o", str(out), "-p", "fp32", "-e", "cpu", "-c", str(cache),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not (out / "genai_config.json").is_file():
        raise RuntimeError(f"GenAI builder failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    shutil.rmtree(cache, ignore_errors=True)


def export_optimum(model, path: Path) -> None:
    """Export with optimum's names: past_key_values.N.key/value in, present.N.key/value out."""
    import torch

    config = model.config
    layers = config.num_hidden_layers
    kv_heads = config.num_key_value_heads
    head_dim = config.hidden_size // config.num_attention_heads
    wrapper = _optimum_style_decoder(model)
    past_names = [f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    present_names = [f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    # Trace with a non-empty past and sequence > 1 so no shape is specialised to a constant.
    batch, seq, past = 1, 3, 2
    args = (
        torch.zeros(batch, seq, dtype=torch.int64),
        torch.ones(batch, past + seq, dtype=torch.int64),
        torch.arange(past, past + seq, dtype=torch.int64).unsqueeze(0),
        *(torch.zeros(batch, kv_heads, past, head_dim) for _ in past_names),
    )
    dynamic_axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
        **{name: {0: "batch_size", 2: "past_sequence_length"} for name in past_names},
        **{name: {0: "batch_size", 2: "total_sequence_length"} for name in present_names},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tracer warns about every shape check it freezes; the tests check the graph.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=["input_ids", "attention_mask", "position_ids", *past_names],
            output_names=["logits", *present_names],
            dynamic_axes=dynamic_axes,
            opset_version=17,
            do_constant_folding=True,
            dynamo=False,
        )


def _optimum_style_decoder(model):
    """Wrap ``model`` so it takes and returns flat KV tensors, as optimum's ONNX config lays them out."""
    import torch
    from transformers import DynamicCache

    class OptimumStyleDecoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(list(zip(past[0::2], past[1::2])), config=self.model.config)
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                cache=cache,
                use_cache=True,
            )
            presents = [t for layer in out.cache.layers for t in (layer.keys, layer.values)]
            return (out.logits, *presents)

    return OptimumStyleDecoder()


def save_external(src: Path, dst: Path) -> None:
    """Re-save ``src`` with every weight in one ``<name>_data`` file beside it."""
    import onnx

    model = onnx.load(str(src))
    onnx.save_model(
        model,
        str(dst),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=dst.name + "_data",
        size_threshold=0,
    )


def _copy_side_files(hf: Path, dst: Path) -> None:
    for name in ("config.json", "generation_config.json", *_TOKENIZER_FILES):
        if (hf / name).is_file():
            shutil.copy2(hf / name, dst / name)


if __name__ == "__main__":
    print(tiny_models_dir())
