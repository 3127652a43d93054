"""One engine alone in this process, as a user runs it: load, warm up, time the prompts.

    python bench/solo.py --engine hearth|onnxruntime-genai|llama.cpp --model DIR_OR_GGUF --ids ids.json

``ids.json`` maps a prompt label to token ids. For each prompt: one warm-up run, then
``--reps`` cold runs; prints one JSON line with the medians, the greedy ids, the load
time and the process's peak RSS (VmHWM). Imports Hearth only for ``--engine hearth``,
so llama.cpp can run from a venv of its own. ``compare.py --processes`` drives it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from peers import GenaiEngine, HearthEngine, LlamaCppEngine, peak_rss_bytes  # noqa: E402

ENGINES = {"hearth": HearthEngine, "onnxruntime-genai": GenaiEngine, "llama.cpp": LlamaCppEngine}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--engine", required=True, choices=sorted(ENGINES))
    p.add_argument("--model", required=True, help="model folder, or the GGUF for llama.cpp")
    p.add_argument("--ids", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--llama-no-extra-bufts", action="store_true", help="llama.cpp: use_extra_bufts=False (no AMX, no repacking)")
    args = p.parse_args()
    prompts = json.loads(Path(args.ids).read_text())
    t0 = time.perf_counter()
    if args.engine == "llama.cpp":
        engine = LlamaCppEngine(Path(args.model), args.threads, args.context, extra_bufts=not args.llama_no_extra_bufts)
    else:
        engine = ENGINES[args.engine](Path(args.model), args.threads, args.context)
    result: dict = {"engine": args.engine, "llama_extra_bufts": not args.llama_no_extra_bufts, "load_s": time.perf_counter() - t0, "prompts": {}}
    for label, ids in prompts.items():
        engine.run(ids, args.new_tokens)  # warm-up
        runs = [engine.run(ids, args.new_tokens) for _ in range(args.reps)]
        result["prompts"][label] = {
            "ttft_ms": statistics.median(r[1] * 1000 for r in runs),
            "decode_tps": statistics.median(r[2] for r in runs),
            "ids": runs[0][0],
        }
    result["vm_hwm_bytes"] = peak_rss_bytes()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
