"""Wall time of the perplexity command as a whole process (start-up and load included).

    HEARTH_HOME=... python bench/ppl_time.py --rounds 5 --json bench/results/X.json

Runs ``python -m engine.cli eval ppl --text tests/data/ppl_text.txt`` (the default
model, 1,024 tokens) and the same with ``--token-by-token``, alternating, the order
swapped every round, from this checkout's root so its engine runs. Medians, min/max.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = {"chunked": [], "token-by-token": ["--token-by-token"]}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--text", default="tests/data/ppl_text.txt")
    p.add_argument("--json")
    args = p.parse_args()
    samples: dict = {m: [] for m in MODES}
    outputs: dict = {}
    names = list(MODES)
    for r in range(args.rounds):
        for mode in names if r % 2 == 0 else names[::-1]:
            cmd = [sys.executable, "-m", "engine.cli", "eval", "ppl", "--text", args.text, *MODES[mode]]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            samples[mode].append(time.perf_counter() - t0)
            outputs[mode] = out.strip().splitlines()[-1]
            print(f"round {r + 1} {mode}: {samples[mode][-1]:.2f} s  {outputs[mode]}", flush=True)
    summary = {m: {"median_s": statistics.median(s), "min_s": min(s), "max_s": max(s), "output": outputs[m]} for m, s in samples.items()}
    for m, v in summary.items():
        print(f"{m}: median {v['median_s']:.2f} s ({v['min_s']:.2f}-{v['max_s']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "what": "wall time of `python -m engine.cli eval ppl --text %s` [--token-by-token], whole process, default model, alternating" % args.text,
            "hearth_home": os.environ.get("HEARTH_HOME"), "rounds": args.rounds,
            "summary": summary, "samples_s": samples}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
