"""Tiny random GGUF files, one per architecture, in a Q4_K_M-like mix of tensor types.

Written with the ``gguf`` package. Types it can quantize (Q4_0, Q4_1, Q5_0,
Q5_1, Q8_0, BF16, F16) come from random floats; K-quants, which it can only
read, are random blocks with sane fp16 super-block scales. ``gguf``'s
dequantizer (what transformers loads the file with) is the reference either way.

The mix: layer 0 like Q4_K_M (Q4_K with Q6_K for attn_v and ffn_down), layer 1
the small-model fallbacks and float types (Q5_0, Q5_1, Q8_0, Q4_0, Q4_1, F16,
BF16), and the head Q6_K (tied) or Q5_K (untied, with a Q8_0 embedding).

Phi-3 is written as llama.cpp writes it: q, k and v rows in one ``attn_qkv``
tensor, and gate rows then up rows in one ``ffn_up`` (no ``ffn_gate``). Its
layer 0 follows Q4_K_M's rule for a fused attn_qkv (Q5_K).

Nemotron has a plain ``ffn_up`` and no ``ffn_gate`` (a relu² MLP), LayerNorms
with biases, and rotary on half of each head (transformers' default
``partial_rotary_factor``, as it reads no rope dimension from the file).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.convert import gguf_blocks

HIDDEN, FFN, HEADS, KV_HEADS, HEAD_DIM, LAYERS = 256, 512, 2, 1, 128, 2
SCALE = 0.05  # random weights' std; K-quant blocks are drawn to about the same spread
LAYER_TYPES = (
    {"attn_q": "Q4_K", "attn_k": "Q4_K", "attn_v": "Q6_K", "attn_output": "Q4_K",
     "ffn_gate": "Q4_K", "ffn_up": "Q4_K", "ffn_down": "Q6_K"},
    {"attn_q": "Q5_0", "attn_k": "Q5_1", "attn_v": "Q8_0", "attn_output": "Q4_0",
     "ffn_gate": "Q4_1", "ffn_up": "F16", "ffn_down": "BF16"},
)  # fmt: skip
FUSED_LAYER_TYPES = (
    {"attn_qkv": "Q5_K", "attn_output": "Q4_K", "ffn_up": "Q4_K", "ffn_down": "Q6_K"},
    {"attn_qkv": "BF16", "attn_output": "Q4_0", "ffn_up": "Q5_1", "ffn_down": "F16"},
)  # fmt: skip
# architecture -> (tied head, q/k norms, qkv biases, post norms, fused qkv and gate/up)
ARCHITECTURES = {
    "llama": (True, False, False, False, False),
    "qwen2": (False, False, True, False, False),
    "qwen3": (True, True, False, False, False),
    "gemma2": (True, False, False, True, False),
    "gemma3": (True, True, False, True, False),
    "phi3": (False, False, False, False, True),
    "nemotron": (False, False, False, False, False),
}
NO_GATE = frozenset({"nemotron"})  # up -> activation -> down, no ffn_gate tensor
NORM_BIASES = frozenset({"nemotron"})  # LayerNorm, not RMSNorm


def layer_types(arch: str) -> tuple[dict[str, str], ...]:
    """Each layer's GGUF tensor -> type for ``arch``."""
    if ARCHITECTURES[arch][4]:
        return FUSED_LAYER_TYPES
    if arch in NO_GATE:
        return tuple({k: v for k, v in kinds.items() if k != "ffn_gate"} for kinds in LAYER_TYPES)
    return LAYER_TYPES


def builder_nodes_per_layer(arch: str) -> int:
    """The builder's projection nodes in one layer: fused q/k/v, o, then gate (if any), up and down."""
    return 4 if arch in NO_GATE else 5


def random_raw(type_name: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Raw bytes ``[n, bytes per row]`` of a random ``n x k`` tensor of ``type_name``."""
    import gguf
    from gguf import quants

    if type_name not in gguf_blocks.DECODERS or type_name in ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"):
        w = (rng.standard_normal((n, k)) * SCALE).astype(np.float32)
        if type_name == "F32":
            return w
        if type_name == "F16":
            return w.astype(np.float16)
        return quants.quantize(w, gguf.GGMLQuantizationType[type_name])
    block_bytes, block, _ = gguf_blocks.DECODERS[type_name]
    raw = rng.integers(0, 256, (n, k // block, block_bytes), dtype=np.uint8)

    def f16(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, (n, k // block)).astype(np.float16)[..., None].view(np.uint8)

    if type_name == "Q6_K":  # w = d*sc*(q-32), sc in -128..127
        raw[..., 208:210] = f16(1e-5, 3e-5)
    elif type_name == "Q4_K":  # w = d*sc*q - dmin*m; dmin = 7.5 d centres the sub-blocks
        raw[..., 0:2] = f16(5e-5, 1.5e-4)
        raw[..., 2:4] = f16(3.7e-4, 1.1e-3)
    else:  # Q5_K, levels 0..31
        raw[..., 0:2] = f16(2.5e-5, 7.5e-5)
        raw[..., 2:4] = f16(3.7e-4, 1.1e-3)
    return raw.reshape(n, -1)


def write(path: Path, arch: str, tokenizer_json: Path, seed: int = 0) -> Path:
    """Write a tiny ``arch`` model with the vocabulary of ``tokenizer_json`` (byte-level BPE)."""
    import gguf

    tied, qk_norm, biases, post_norms, fused = ARCHITECTURES[arch]
    rng = np.random.default_rng(seed)
    tok = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    tokens = [""] * len(vocab)
    for text, i in vocab.items():
        tokens[i] = text
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    # Gemma's tokenizer class adds "<mask>" unless the vocabulary has it (real Gemma files
    # do). Then pad to a multiple of 32 so the head's rows fit any block layout.
    tokens.append("<mask>")
    while len(tokens) % 32:
        tokens.append(f"<pad{len(tokens)}>")
    types = [gguf.TokenType.CONTROL if t in specials or t.startswith("<") and t.endswith(">") and t not in vocab
             else gguf.TokenType.NORMAL for t in tokens]  # fmt: skip

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-{arch}")
    w.add_context_length(256)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM // 2 if arch == "nemotron" else HEAD_DIM)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(len(tokens))
    if arch.startswith("gemma"):
        w.add_sliding_window(64)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(specials["<|im_start|>"])
    w.add_eos_token_id(specials["<|im_end|>"])
    w.add_add_bos_token(False)
    if fused:  # as llama.cpp's Phi-3 files do; transformers' default pad id (32000) is past a tiny vocabulary
        w.add_pad_token_id(specials["<|endoftext|>"])

    def tensor(name: str, type_name: str, n: int, k: int) -> None:
        data = random_raw(type_name, n, k, rng)
        if type_name in ("F32", "F16"):
            w.add_tensor(name, data)
        else:
            qtype = gguf.GGMLQuantizationType[type_name]
            w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=qtype)

    def norm(name: str, size: int) -> None:
        w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(size)).astype(np.float32))
        if arch in NORM_BIASES and name.endswith(".weight"):
            w.add_tensor(name[: -len("weight")] + "bias", (0.1 * rng.standard_normal(size)).astype(np.float32))

    v = len(tokens)
    tensor("token_embd.weight", "Q6_K" if tied else "Q8_0", v, HIDDEN)
    if not tied:
        tensor("output.weight", "Q5_K", v, HIDDEN)
    norm("output_norm.weight", HIDDEN)
    shapes = {
        "attn_q": (HEADS * HEAD_DIM, HIDDEN), "attn_k": (KV_HEADS * HEAD_DIM, HIDDEN),
        "attn_v": (KV_HEADS * HEAD_DIM, HIDDEN), "attn_output": (HIDDEN, HEADS * HEAD_DIM),
        "ffn_gate": (FFN, HIDDEN), "ffn_up": (FFN, HIDDEN), "ffn_down": (HIDDEN, FFN),
    }  # fmt: skip
    if fused:
        shapes.update({"attn_qkv": ((HEADS + 2 * KV_HEADS) * HEAD_DIM, HIDDEN), "ffn_up": (2 * FFN, HIDDEN)})
    for layer, kinds in enumerate(layer_types(arch)):
        for part, kind in kinds.items():
            tensor(f"blk.{layer}.{part}.weight", kind, *shapes[part])
        if biases:
            for part in ("attn_q", "attn_k", "attn_v"):
                w.add_tensor(f"blk.{layer}.{part}.bias", (0.1 * rng.standard_normal(shapes[part][0])).astype(np.float32))
        norm(f"blk.{layer}.attn_norm.weight", HIDDEN)
        norm(f"blk.{layer}.ffn_norm.weight", HIDDEN)
        if qk_norm:
            norm(f"blk.{layer}.attn_q_norm.weight", HEAD_DIM)
            norm(f"blk.{layer}.attn_k_norm.weight", HEAD_DIM)
        if post_norms:
            norm(f"blk.{layer}.post_attention_norm.weight", HIDDEN)
            norm(f"blk.{layer}.post_ffw_norm.weight", HIDDEN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
