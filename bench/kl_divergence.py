"""How far each build's next-token distribution lies from a reference build's, over a text.

Perplexity moves by ±0.2 % between runs of the same int8-activation graph (thread
partitioning rounds the last bits differently, and int8 turns those into steps),
so a +0.1 % target drowns in it. The mean KL divergence from the reference
distribution, and the share of positions whose argmax agrees, measure the same
loss per position and move far less (llama.cpp's perplexity tool reports the same
pair for its quantizations). Chunked, as ``hearth-cli eval ppl`` runs by default;
``--token-by-token`` feeds one token per run, as decoding does.

    python bench/kl_divergence.py --reference FP32_DIR --model DIR [--model DIR ...] \
        --text tests/data/ppl_text.txt [--tokens 1024] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.events import LoadOptions  # noqa: E402
from engine.generation.logprobs import log_softmax  # noqa: E402
from engine.generation.perplexity import CHUNK  # noqa: E402
from engine.runtime.model import load_model  # noqa: E402


def log_probs(folder: Path, text: str, tokens: int, token_by_token: bool) -> tuple[np.ndarray, list[int]]:
    """``[positions, vocab]`` log-probabilities for each position's next token."""
    model = load_model(folder, LoadOptions(threads=2, context_length=2048))
    ids = model.codec.encode(text)[:tokens]
    runner = model.runner
    runner.reset()
    fed = ids[:-1]
    if token_by_token:
        rows = [log_softmax(runner.forward([t])) for t in fed]
    else:
        rows = [log_softmax(runner.forward_positions(fed[s : s + CHUNK], len(fed[s : s + CHUNK])))
                for s in range(0, len(fed), CHUNK)]  # fmt: skip
    runner.reset()
    return np.vstack([np.atleast_2d(r) for r in rows]).astype(np.float64), ids


def compare(reference: np.ndarray, other: np.ndarray, ids: list[int]) -> dict[str, float]:
    p = np.exp(reference)
    kl = (p * (reference - other)).sum(axis=1)
    targets = np.asarray(ids[1:])
    nll = -other[np.arange(len(targets)), targets].mean()
    ref_nll = -reference[np.arange(len(targets)), targets].mean()
    return {
        "mean_kl": float(kl.mean()),
        "p99_kl": float(np.percentile(kl, 99)),
        "top1_agreement": float((reference.argmax(1) == other.argmax(1)).mean()),
        "ppl": math.exp(nll),
        "ppl_vs_reference_pct": 100 * (math.exp(nll - ref_nll) - 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--model", type=Path, action="append", required=True)
    ap.add_argument("--text", type=Path, required=True)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--token-by-token", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    text = args.text.read_text(encoding="utf-8")
    reference, ids = log_probs(args.reference, text, args.tokens, args.token_by_token)
    results = {}
    for folder in args.model:
        got, _ = log_probs(folder, text, args.tokens, args.token_by_token)
        results[str(folder)] = r = compare(reference, got, ids)
        print(f"{folder.name:<32} KL {r['mean_kl']:.5f} (p99 {r['p99_kl']:.4f})  top-1 {100 * r['top1_agreement']:.1f} %  "
              f"ppl {r['ppl']:.4f} ({r['ppl_vs_reference_pct']:+.2f} %)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"reference": str(args.reference), "text": str(args.text),
                                         "token_by_token": args.token_by_token, "results": results}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
