"""Make a built folder's tokenizer match the source model, and prove it.

The GenAI builder writes its own ``tokenizer.json``, and for GGUF sources it has
lost llama.cpp's pre-tokenizer (SmolLM2 splits every digit on its own). This
module rewrites the tokenizer files from the GGUF's metadata and then checks
``tokenizers``' ids against an independent byte-level BPE that follows
llama.cpp's rules, straight from the GGUF's vocab and merges.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.convert.gguf_source import TokenizerMeta
from engine.core.errors import ConversionError

# llama.cpp's pre-tokenizer regexes, applied in order (llama-vocab.cpp). Each
# stage splits the fragments the previous one produced.
GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PRE_REGEXES: dict[str, tuple[str, ...]] = {
    "default": (GPT2_REGEX,),
    "gpt2": (GPT2_REGEX,),
    "smollm": (r"\p{N}", GPT2_REGEX),
    "starcoder": (r"\p{N}", GPT2_REGEX),
    "refact": (r"\p{N}", GPT2_REGEX),
}
# The same rules in the ``tokenizers`` JSON schema.
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
PRE_TOKENIZER_JSON: dict[str, dict[str, Any]] = {
    "default": _BYTE_LEVEL,
    "gpt2": _BYTE_LEVEL,
    **{
        name: {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _BYTE_LEVEL]}
        for name in ("smollm", "starcoder", "refact")
    },
}
CONTROL_TYPES = (3, 4)  # llama.cpp token types CONTROL and USER_DEFINED: matched as whole strings

# The first ones tell the digit-splitting pre-tokenizer apart from plain ByteLevel:
# with it, spaces before a digit merge ("  1" -> "Ġġ", "1"); without, they don't.
PROBE_TEXTS = (
    "12345 678",
    "costs  $1,000\n\n42 and  7",
    "½ ² ③",
    "Hello,   world!  \n\n  indented\tTab",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "héllo 日本語 🙂",
    "The year 1999 had 365 days; π ≈ 3.14159.",
    "    def f(x):\n        return x ** 2  # square",
    "trailing spaces   ",
)


# -- the independent reference: byte-level BPE by llama.cpp's rules ------------------
@lru_cache(maxsize=1)
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class ReferenceBPE:
    """A slow, dependency-light BPE tokenizer built only from GGUF metadata."""

    def __init__(self, meta: TokenizerMeta) -> None:
        import regex  # ships with transformers; needed for \\p{L} classes

        if meta.model != "gpt2" or meta.pre not in PRE_REGEXES:
            raise ValueError(f"no reference rules for tokenizer {meta.model}/{meta.pre}")
        self._meta = meta
        self._regexes = [regex.compile(r) for r in PRE_REGEXES[meta.pre]]
        self._vocab = {tok: i for i, tok in enumerate(meta.tokens)}
        self._ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(meta.merges)}
        specials = [t for t, ty in zip(meta.tokens, meta.token_types) if ty in CONTROL_TYPES]
        # Longest first, as llama.cpp does, so a marker never splits a longer one.
        self._specials = sorted(specials, key=len, reverse=True)
        self._cache: dict[str, list[int]] = {}

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        if self._meta.add_bos and self._meta.bos_id is not None:
            ids.append(self._meta.bos_id)
        for piece, special in self._split_specials(text):
            if special:
                ids.append(self._vocab[piece])
                continue
            for word in self._pre_tokenize(piece):
                ids.extend(self._bpe(word))
        if self._meta.add_eos and self._meta.eos_id is not None:
            ids.append(self._meta.eos_id)
        return ids

    def _split_specials(self, text: str) -> list[tuple[str, bool]]:
        parts: list[tuple[str, bool]] = [(text, False)]
        for sp in self._specials:
            out: list[tuple[str, bool]] = []
            for chunk, special in parts:
                if special or sp not in chunk:
                    out.append((chunk, special))
                    continue
                pieces = chunk.split(sp)
                for i, p in enumerate(pieces):
                    if i:
                        out.append((sp, True))
                    if p:
                        out.append((p, False))
            parts = out
        return parts

    def _pre_tokenize(self, text: str) -> list[str]:
        frags = [text]
        for rx in self._regexes:
            nxt: list[str] = []
            for frag in frags:
                pos = 0
                for m in rx.finditer(frag):
                    if m.start() > pos:  # llama.cpp keeps unmatched text as its own fragment
                        nxt.append(frag[pos : m.start()])
                    if m.end() > m.start():
                        nxt.append(m.group())
                    pos = m.end()
                if pos < len(frag):
                    nxt.append(frag[pos:])
            frags = nxt
        return frags

    def _bpe(self, word: str) -> list[int]:
        if word in self._cache:
            return self._cache[word]
        b2u = _byte_to_unicode()
        parts = [b2u[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            best = min(
                ((self._ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))),
            )
            if best[0] == 1 << 30:
                break
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        ids = [self._vocab[p] for p in parts]
        self._cache[word] = ids
        return ids


# -- repair -------------------------------------------------------------------------
def repair_from_gguf(folder: Path, meta: TokenizerMeta) -> None:
    """Rewrite the tokenizer, tokenizer config and id settings of ``folder`` from ``meta``."""
    tok_path = folder / "tokenizer.json"
    data = json.loads(tok_path.read_text(encoding="utf-8"))
    if meta.pre in PRE_TOKENIZER_JSON:
        data["pre_tokenizer"] = PRE_TOKENIZER_JSON[meta.pre]
    if meta.model == "gpt2":
        # llama.cpp's byte-level BPE has no normalizer; transformers picks the tokenizer class by
        # architecture, and Gemma's class brings a space -> "▁" normalizer along.
        data["normalizer"] = None
        data["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    # No template: llama.cpp adds BOS only when the GGUF says so, and SmolLM2 says no.
    data["post_processor"] = _post_processor(meta)
    tok_path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    bos = meta.tokens[meta.bos_id] if meta.bos_id is not None else None
    eos = meta.tokens[meta.eos_id] if meta.eos_id is not None else None
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
    for stale in ("backend", "is_local", "local_files_only"):
        cfg.pop(stale, None)
    cfg.update(
        {
            "tokenizer_class": "GPT2Tokenizer",
            "add_bos_token": meta.add_bos,
            "add_eos_token": meta.add_eos,
            "bos_token": bos,
            "eos_token": eos,
            "pad_token": cfg.get("pad_token", eos),
            "clean_up_tokenization_spaces": False,
        }
    )
    if meta.chat_template:
        cfg["chat_template"] = meta.chat_template
        (folder / "chat_template.jinja").write_text(meta.chat_template, encoding="utf-8")
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")
    set_special_ids(folder, meta.bos_id, meta.eos_id)


def _post_processor(meta: TokenizerMeta) -> dict[str, Any]:
    single: list[dict[str, Any]] = [{"Sequence": {"id": "A", "type_id": 0}}]
    specials: dict[str, Any] = {}
    for flag, tid, at_start in ((meta.add_bos, meta.bos_id, True), (meta.add_eos, meta.eos_id, False)):
        if flag and tid is not None:
            text = meta.tokens[tid]
            item = {"SpecialToken": {"id": text, "type_id": 0}}
            single = [item, *single] if at_start else [*single, item]
            specials[text] = {"id": text, "ids": [tid], "tokens": [text]}
    return {"type": "TemplateProcessing", "single": single, "pair": single + single[-1:], "special_tokens": specials}


def set_special_ids(folder: Path, bos_id: int | None, eos_id: int | None) -> None:
    """Write bos/eos/pad ids into genai_config.json and generation_config.json."""
    genai_path = folder / "genai_config.json"
    if genai_path.exists():
        genai = json.loads(genai_path.read_text(encoding="utf-8"))
        model = genai.setdefault("model", {})
        if bos_id is not None:
            model["bos_token_id"] = bos_id
        if eos_id is not None:
            model["eos_token_id"] = eos_id
            model.setdefault("pad_token_id", eos_id)
        genai_path.write_text(json.dumps(genai, indent=4), encoding="utf-8")
    gen = {"bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": eos_id, "do_sample": False}
    (folder / "generation_config.json").write_text(json.dumps(gen, indent=2), encoding="utf-8")


# -- verification -------------------------------------------------------------------
def verify_against_gguf(folder: Path, meta: TokenizerMeta, texts: tuple[str, ...] = PROBE_TEXTS) -> list[str]:
    """Check ``folder``'s tokenizer files against the GGUF metadata.

    Returns:
        Human-readable notes on what was checked.

    Raises:
        ConversionError: on any mismatch.
    """
    from tokenizers import Tokenizer

    notes: list[str] = []
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    genai = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))["model"]
    checks = {
        "eos id in genai_config.json": (genai.get("eos_token_id"), meta.eos_id),
        "bos id in genai_config.json": (genai.get("bos_token_id"), meta.bos_id),
        "add_bos_token": (bool(cfg.get("add_bos_token")), meta.add_bos),
        "eos_token": (cfg.get("eos_token"), meta.tokens[meta.eos_id] if meta.eos_id is not None else None),
        "eos id in tokenizer.json": (tok.token_to_id(cfg.get("eos_token") or ""), meta.eos_id),
        "vocab size": (tok.get_vocab_size(with_added_tokens=True), len(meta.tokens)),
        "chat_template": (bool(cfg.get("chat_template")), bool(meta.chat_template)),
    }
    for what, (got, want) in checks.items():
        if got != want:
            raise ConversionError(f"Tokenizer check failed in {folder}: {what} is {got!r}, the GGUF says {want!r}.")
    notes.append(f"eos={meta.eos_id} ({meta.tokens[meta.eos_id] if meta.eos_id is not None else '-'}), add_bos={meta.add_bos}")

    try:
        ref = ReferenceBPE(meta)
    except ValueError as exc:
        notes.append(f"ids not cross-checked: {exc}")
        return notes
    for text in texts:
        got = tok.encode(text).ids
        want = ref.encode(text)
        if got != want:
            raise ConversionError(
                f"Tokenizer check failed in {folder}: {text!r} encodes to {got[:16]} but the GGUF's "
                f"own vocabulary and merges give {want[:16]}."
            )
        if tok.decode(got, skip_special_tokens=False) != text:
            raise ConversionError(f"Tokenizer check failed in {folder}: {text!r} does not decode back to itself.")
    notes.append(f"{len(texts)} probe strings encode identically to llama.cpp's rules ({meta.pre})")
    return notes
