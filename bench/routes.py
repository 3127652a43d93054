"""Decode speed of several model folders in one process, interleaved (BENCHMARKS.md's method).

Every folder is loaded once (2 threads) and warmed up; then each round runs every
folder on the short and the long prompt, greedy, exactly ``--new-tokens`` new
tokens with EOS ignored, the order rotated by one each round. Prints medians per
folder and prompt, the ratio to the first folder, and each folder's fastest round.

    python bench/routes.py --model DIR_A --model DIR_B --rounds 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.core.events import LoadOptions  # noqa: E402
from engine.generation.benchmark import LONG_QUESTION, SHORT_QUESTION, prompt_ids, time_one  # noqa: E402
from engine.runtime.model import load_model  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, help="a model folder (repeat; the first is the base)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--context", type=int, default=2048)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--prompts", nargs="+", choices=("short", "long"), default=["short", "long"])
    p.add_argument("--json")
    args = p.parse_args()

    models = [load_model(m, LoadOptions(threads=args.threads, context_length=args.context)) for m in args.model]
    questions = {"short": SHORT_QUESTION, "long": LONG_QUESTION}
    prompts = {k: prompt_ids(models[0], questions[k]) for k in args.prompts}
    runs: dict[str, dict[str, list[float]]] = {m: {k: [] for k in prompts} for m in args.model}
    for model in models:  # warm-up
        time_one(model, prompts["short"], 16)
    for r in range(args.rounds):
        order = list(range(len(models)))
        order = order[r % len(order):] + order[: r % len(order)]
        for i in order:
            for label, ids in prompts.items():
                runs[args.model[i]][label].append(time_one(models[i], ids, args.new_tokens)["decode_tps"])
        print(f"round {r + 1}: " + "  ".join(
            f"{Path(m).name} " + "/".join(f"{v[-1]:.1f}" for v in runs[m].values()) for m in args.model
        ), file=sys.stderr, flush=True)  # fmt: skip
    medians = {m: {k: statistics.median(v) for k, v in per.items()} for m, per in runs.items()}
    base = medians[args.model[0]]
    result = {
        "what": f"decode tok/s, {args.new_tokens} greedy tokens, EOS ignored, {args.threads} threads, "
                f"{args.rounds} interleaved rounds, medians; prompt tokens: "
                + ", ".join(f"{k} {len(v)}" for k, v in prompts.items()),
        "median_decode_tps": medians,
        "ratio_to_first": {m: {k: v / base[k] for k, v in med.items()} for m, med in medians.items()},
        # The fastest round suffers least from other jobs on a shared machine.
        "best_decode_tps": {m: {k: max(v) for k, v in per.items()} for m, per in runs.items()},
        "runs": runs,
    }  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
