"""One process, one engine: load a model, time greedy decode of exactly N tokens (EOS suppressed).

Runs unchanged against any Hearth engine since the first release: it uses only
``engine.model.load_model``, ``engine.generate.stream_generate``,
``engine.events.SamplingParams`` / ``LoadOptions`` and ``model.runner.reset()``.
Whichever ``engine`` package comes first on ``sys.path`` is measured (the current
directory comes first with ``python -m`` or a script path run from that directory),
and its ``__file__`` is printed so the caller can check which one ran.

    cd /path/to/checkout && python /abs/path/bench/single_stream.py --model DIR --ids ids.json

``ids.json`` maps a prompt label to its token ids ({"short": [...], "long": [...]}), so
every engine gets exactly the same ids. Prints one JSON object on the last line:
per prompt, the medians of ``--reps`` cold runs after one warm-up, and the greedy ids.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())  # the checkout we were started from, not this file's

import engine  # noqa: E402

# Each engine times itself with its own time_one (the same code in both layouts).
try:  # the engine in layers (engine/core, engine/generation, engine/runtime)
    from engine.core.events import LoadOptions
    from engine.generation.benchmark import time_one
    from engine.runtime.model import load_model
except ImportError:  # the flat engine of earlier commits, for old-vs-new runs
    from engine.benchmark import time_one  # type: ignore[no-redef]
    from engine.events import LoadOptions  # type: ignore[no-redef]
    from engine.model import load_model  # type: ignore[no-redef]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--ids", required=True, help="JSON: {label: [token ids]}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    prompts = json.loads(open(args.ids, encoding="utf-8").read())
    t0 = time.perf_counter()
    model = load_model(args.model, LoadOptions(provider="cpu", threads=args.threads, context_length=args.context))
    load_s = time.perf_counter() - t0
    result: dict = {"engine_file": engine.__file__, "load_s": load_s, "prompts": {}}
    for label, ids in prompts.items():
        time_one(model, ids, args.new_tokens)  # warm-up, not counted
        runs = [time_one(model, ids, args.new_tokens) for _ in range(args.reps)]
        assert all(r["tokens"] == args.new_tokens for r in runs), [r["tokens"] for r in runs]
        result["prompts"][label] = {
            "prompt_tokens": len(ids),
            "ttft_ms": statistics.median(r["ttft_ms"] for r in runs),
            "decode_tps": statistics.median(r["decode_tps"] for r in runs),
            "decode_tps_runs": [r["decode_tps"] for r in runs],
            "ttft_ms_runs": [r["ttft_ms"] for r in runs],
            "ids": runs[0]["ids"],
            "ids_stable": all(r["ids"] == runs[0]["ids"] for r in runs),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
