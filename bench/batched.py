"""Aggregate decode throughput with N sequences decoding together, and peak memory per slot count.

    python bench/batched.py --model DIR --slot-counts 1 2 4 8 --rounds 5 --json bench/results/X.json

Every (round, slot count) is a fresh process (``--solo N``): it loads the model with
``LoadOptions(slots=N, context_length=2048)``, prefills N different chat prompts, one
per slot (``runner.forward``, batch 1), then runs 127 ``runner.decode_tick`` calls over
all N slots: 128 new tokens each, greedy with EOS suppressed (argmax of the logits
with the EOS ids masked). Aggregate decode tok/s = N * 127 / time of the ticks.
The process's VmHWM (peak RSS) is read at the end. Slot counts rotate each round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from compare import CHAT_QUESTIONS  # noqa: E402
from peers import peak_rss_bytes  # noqa: E402

from engine.core.events import LoadOptions  # noqa: E402
from engine.runtime.model import load_model  # noqa: E402

QUESTIONS = CHAT_QUESTIONS[:8]  # the chat workload's first questions, one per sequence


def solo(model_dir: str, n: int, threads: int, context: int, new_tokens: int) -> dict:
    t0 = time.perf_counter()
    model = load_model(model_dir, LoadOptions(provider="cpu", threads=threads, context_length=context, slots=n))
    load_s = time.perf_counter() - t0
    runner = model.runner
    assert runner.slots == n, (runner.slots, n)
    eos = sorted(model.eos_ids) if hasattr(model, "eos_ids") else [2]
    prompts = [model.codec.encode_chat([{"role": "user", "content": q}]) for q in QUESTIONS[:n]]

    def pick(logits: np.ndarray) -> np.ndarray:
        logits = np.array(logits, dtype=np.float32, copy=True)
        logits[..., eos] = -np.inf
        return logits.argmax(axis=-1)

    def one_pass() -> tuple[float, list[list[int]]]:
        out: list[list[int]] = []
        for slot, ids in enumerate(prompts):
            runner.reset(slot)
            out.append([int(pick(runner.forward(ids, slot)))])
        slots = list(range(n))
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            chosen = pick(runner.decode_tick(slots, [o[-1] for o in out]))
            for o, t in zip(out, chosen):
                o.append(int(t))
        return time.perf_counter() - start, out

    one_pass()  # warm-up
    elapsed, out = one_pass()
    return {
        "slots": n,
        "load_s": load_s,
        "prompt_tokens": [len(p) for p in prompts],
        "aggregate_decode_tps": n * (new_tokens - 1) / elapsed,
        "per_sequence_decode_tps": (new_tokens - 1) / elapsed,
        "vm_hwm_bytes": peak_rss_bytes(),
        "kv_bytes_per_token": model.info.kv_bytes_per_token,
        "kv_bytes_total": model.info.kv_bytes_per_token * context * n,
        "eos_masked": eos,
        "ids": out,
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--slot-counts", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--context", type=int, default=2048)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--solo", type=int, help=argparse.SUPPRESS)
    p.add_argument("--json")
    args = p.parse_args()
    if args.solo:
        print(json.dumps(solo(args.model, args.solo, args.threads, args.context, args.new_tokens)))
        return 0
    samples: dict[int, list[dict]] = {n: [] for n in args.slot_counts}
    counts = list(args.slot_counts)
    for r in range(args.rounds):
        order = counts[r % len(counts):] + counts[: r % len(counts)]
        for n in order:
            cmd = [sys.executable, __file__, "--model", args.model, "--solo", str(n), "--threads", str(args.threads),
                   "--context", str(args.context), "--new-tokens", str(args.new_tokens)]
            res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            samples[n].append(res)
            print(f"round {r + 1} slots {n}: {res['aggregate_decode_tps']:.1f} tok/s aggregate, VmHWM {res['vm_hwm_bytes'] / 1e6:.0f} MB", flush=True)
    base = statistics.median(s["aggregate_decode_tps"] for s in samples[counts[0]])
    summary = {}
    for n in counts:
        tps = [s["aggregate_decode_tps"] for s in samples[n]]
        hwm = [s["vm_hwm_bytes"] / 1e6 for s in samples[n]]
        # Row 0 (the first prompt) decoded alone vs in a batch: the same greedy ids?
        same_row0 = all(s["ids"][0] == samples[counts[0]][0]["ids"][0] for s in samples[n])
        summary[n] = {
            "aggregate_decode_tps_median": statistics.median(tps), "min": min(tps), "max": max(tps),
            "ratio_to_1_sequence": statistics.median(tps) / base,
            "vm_hwm_mb_median": statistics.median(hwm), "vm_hwm_mb_min": min(hwm), "vm_hwm_mb_max": max(hwm),
            "kv_mb": samples[n][0]["kv_bytes_total"] / 1e6,
            "row0_ids_same_as_alone": same_row0,
            "ids_stable_across_rounds": all(s["ids"] == samples[n][0]["ids"] for s in samples[n]),
        }
        print(f"slots {n}: {summary[n]['aggregate_decode_tps_median']:.1f} tok/s ({min(tps):.1f}-{max(tps):.1f}) = {summary[n]['ratio_to_1_sequence']:.2f}x; "
              f"VmHWM {summary[n]['vm_hwm_mb_median']:.0f} MB; KV {summary[n]['kv_mb']:.0f} MB; row 0 ids as alone {same_row0}")
    if args.json:
        result = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "what": "aggregate greedy decode (EOS masked) of N different chat prompts, 128 new tokens each, runner.decode_tick over all N slots; one fresh process per (round, N); 2 threads; context 2048 per slot",
            "model": args.model, "rounds": args.rounds, "threads": args.threads, "context": args.context,
            "kv_bytes_per_token": samples[counts[0]][0]["kv_bytes_per_token"],
            "summary": summary,
            "samples": {n: [{k: v for k, v in s.items() if k != "ids"} for s in samples[n]] for n in counts},
        }
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
