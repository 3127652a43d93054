"""The local server with prompt-lookup speculation on and off, through the official openai client.

    .venv/bin/python bench/serve_speculative.py [--rounds 5] [--json OUT]

Two servers on the default model, each ``hearth-cli serve --parallel 8 --threads 2
--context 2048``, one with ``--speculate lookup``. They run one at a time, in rotated
order each round (one warm-up round not counted). Workloads, greedy, ``max_tokens``
128, streamed:
- ``code-edit``, 1 client: the 60-line function of bench/speculative.py to rewrite with a
  variable renamed (the reply copies the prompt);
- ``chat``, 1 client: a free question;
- ``chat``, 2 clients at once: speculation stays off while two requests decode, so the
  two servers should match.
Figures: per-stream decode tok/s (completion tokens after the first over their time) and
wall time per request batch; medians over rounds, and lookup/off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from openai import OpenAI  # noqa: E402
from serve import one_request, start_hearth  # noqa: E402
from speculative import FUNCTION  # noqa: E402

WORKLOADS = {
    "code-edit x1": [f"{FUNCTION}\n\nRewrite this function exactly, but rename the variable `scale` to `factor`."],
    "chat x1": ["What are three good habits for learning a new language?"],
    "chat x2": ["What are three good habits for learning a new language?", "Why do cats purr?"],
}


def batch(port: int, model: str, prompts: list[str]) -> dict:
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0, timeout=600)
    results: list[dict] = []
    threads = [threading.Thread(target=lambda p=p: results.append(one_request(client, model, p))) for p in prompts]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    streams = [(r["tokens"] - 1) / (r["last"] - r["first"]) for r in results if r["tokens"] > 1 and r["last"] > r["first"]]
    return {"stream_tps": statistics.median(streams), "wall_s": time.perf_counter() - start,
            "tokens": [r["tokens"] for r in results]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=str(ROOT / ".hearth-dev/test-home/data/models/SmolLM2-135M-Instruct"))
    parser.add_argument("--json", help="default bench/results/<date>-serve-speculative.json")
    args = parser.parse_args()
    servers = {"off": start_hearth(Path(args.model), log="hearth-off"),
               "lookup": start_hearth(Path(args.model), "--speculate", "lookup", log="hearth-lookup")}
    samples: dict[str, dict[str, list[dict]]] = {w: {s: [] for s in servers} for w in WORKLOADS}
    try:
        for round_ in range(args.rounds + 1):  # round 0 warms up
            names = list(servers)[round_ % 2:] + list(servers)[: round_ % 2]
            for workload, prompts in WORKLOADS.items():
                for name in names:
                    _, port, model = servers[name]
                    result = batch(port, model, prompts)
                    if round_:
                        samples[workload][name].append(result)
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    summary = {}
    for workload, by_server in samples.items():
        off = statistics.median(r["stream_tps"] for r in by_server["off"])
        on = statistics.median(r["stream_tps"] for r in by_server["lookup"])
        pairs = statistics.median(a["stream_tps"] / b["stream_tps"] for a, b in zip(by_server["lookup"], by_server["off"]))
        summary[workload] = {"off_stream_tps": off, "lookup_stream_tps": on, "lookup_over_off": on / off,
                             "same_round_pairs": pairs, "samples": by_server}
        print(f"{workload}: decode per stream off {off:.1f}, lookup {on:.1f} tok/s = {on / off:.2f}x "
              f"(pairs {pairs:.2f}x)", flush=True)
    out = Path(args.json) if args.json else ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}-serve-speculative.json"
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M:%S"), "rounds": args.rounds,
                               "setup": "hearth-cli serve --parallel 8 --threads 2 --context 2048 [--speculate lookup]; "
                                        "servers run one at a time, rotated; greedy, max_tokens 128, streamed",
                               "summary": summary}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
