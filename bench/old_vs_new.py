"""Single-sequence decode of two engine checkouts, each in its own processes, interleaved.

    python bench/old_vs_new.py --old /work/wt/old --new . --model DIR --rounds 7 --json bench/results/X.json

Each round runs ``bench/single_stream.py`` once per checkout (a fresh process, cwd
set to the checkout so its ``engine`` package is the one imported), in the order
A B, B A, A B, ... Both get the same prompt ids (the benchmark's short and long
prompts, rendered with the model's chat template by the new checkout's codec).
Reports the median over rounds of each process's median, min/max, the new/old
ratio per prompt, and whether the greedy ids are identical.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from engine.generation.benchmark import LONG_QUESTION, SHORT_QUESTION  # noqa: E402
from engine.runtime.tokenizer import TextCodec  # noqa: E402


def run_once(checkout: Path, python: str, model: str, ids_file: str, reps: int) -> dict:
    cmd = [python, str(HERE / "single_stream.py"), "--model", model, "--ids", ids_file, "--reps", str(reps)]
    out = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--old", required=True)
    p.add_argument("--new", default=str(HERE.parent))
    p.add_argument("--model", required=True)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", required=True)
    args = p.parse_args()
    codec = TextCodec(Path(args.model))
    prompts = {label: codec.encode_chat([{"role": "user", "content": q}]) for label, q in (("short", SHORT_QUESTION), ("long", LONG_QUESTION))}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(prompts, f)
    checkouts = {"old": Path(args.old).resolve(), "new": Path(args.new).resolve()}
    samples: dict = {name: [] for name in checkouts}
    for r in range(args.rounds):
        order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
        for name in order:
            res = run_once(checkouts[name], args.python, args.model, f.name, args.reps)
            assert res["engine_file"].startswith(str(checkouts[name])), (name, res["engine_file"])
            samples[name].append(res)
            print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v['decode_tps']:.1f} tok/s ttft {v['ttft_ms']:.0f} ms" for k, v in res["prompts"].items()), flush=True)
    summary: dict = {}
    for label in prompts:
        row: dict = {"prompt_tokens": len(prompts[label])}
        for name in checkouts:
            tps = [s["prompts"][label]["decode_tps"] for s in samples[name]]
            ttft = [s["prompts"][label]["ttft_ms"] for s in samples[name]]
            row[name] = {"decode_tps_median": statistics.median(tps), "decode_tps_min": min(tps), "decode_tps_max": max(tps),
                         "ttft_ms_median": statistics.median(ttft), "ttft_ms_min": min(ttft), "ttft_ms_max": max(ttft)}
        row["decode_ratio_new_over_old"] = row["new"]["decode_tps_median"] / row["old"]["decode_tps_median"]
        row["ttft_ratio_new_over_old"] = row["new"]["ttft_ms_median"] / row["old"]["ttft_ms_median"]
        # per-round paired ratio (same round, adjacent processes): less sensitive to slow drift
        paired = [n["prompts"][label]["decode_tps"] / o["prompts"][label]["decode_tps"] for n, o in zip(samples["new"], samples["old"])]
        row["paired_decode_ratio_median"] = statistics.median(paired)
        row["paired_decode_ratios"] = paired
        ids = {name: [s["prompts"][label]["ids"] for s in samples[name]] for name in checkouts}
        row["same_greedy_ids"] = all(x == ids["old"][0] for name in ids for x in ids[name])
        summary[label] = row
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "what": "single-sequence greedy decode, 128 new tokens, EOS suppressed, 2 threads; old vs new engine in separate processes, order alternating",
        "old": str(checkouts["old"]), "new": str(checkouts["new"]),
        "old_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkouts["old"], capture_output=True, text=True).stdout.strip(),
        "new_commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkouts["new"], capture_output=True, text=True).stdout.strip(),
        "model": args.model, "rounds": args.rounds, "reps_per_process": args.reps,
        "summary": summary,
        "load_s": {name: statistics.median(s["load_s"] for s in samples[name]) for name in checkouts},
        "samples": {name: [{k: v for k, v in s.items() if k != "prompts"} | {"prompts": {lab: {k: v for k, v in pr.items() if k != "ids"} for lab, pr in s["prompts"].items()}} for s in samples[name]] for name in checkouts},
    }
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    for label, row in summary.items():
        print(f"{label} ({row['prompt_tokens']}): old {row['old']['decode_tps_median']:.1f} new {row['new']['decode_tps_median']:.1f} tok/s "
              f"ratio {row['decode_ratio_new_over_old']:.3f} (paired {row['paired_decode_ratio_median']:.3f}); TTFT old {row['old']['ttft_ms_median']:.0f} new {row['new']['ttft_ms_median']:.0f} ms; same ids {row['same_greedy_ids']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
