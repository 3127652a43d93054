"""Speculative decoding with prompt lookup against plain greedy decoding, interleaved.

    .venv/bin/python bench/speculative.py [--rounds 5] [--model DIR]

Workloads (greedy, 128 new tokens, EOS allowed, 2 threads, the chat template):
- ``doc-qa``: about 1,000 tokens of tests/data/ppl_text.txt, then a question asking to
  quote and summarize it;
- ``code-edit``: a 60-line Python function and a request to rewrite it with a variable
  renamed;
- ``chat``: a free question with nothing to copy.
Plain and speculative runs alternate, the order rotated each round; medians. For each
workload it records decode tok/s both ways and their ratio, the acceptance rate and the
accepted drafts per reply, whether the two outputs are the same token for
token (and where they first differ), and how much of the plain output really copies the
prompt (the share of its 4-grams found in the prompt): prompt lookup can only help where
that is high. Results go to bench/results/<date>-speculative.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.core.events import LoadOptions, SamplingParams  # noqa: E402
from engine.generation.generate import stream_generate  # noqa: E402
from engine.generation.speculative import speculative_generate  # noqa: E402
from engine.runtime.model import load_model  # noqa: E402

FUNCTION = "\n".join(
    [f"def total_{i}(values, scale):" if i == 0 else f"    step_{i} = values[{i}] * scale + {i}" for i in range(58)]
    + ["    result = sum(values) * scale", "    return result"]
)


def workloads(codec) -> dict[str, list[int]]:
    text = (ROOT / "tests" / "data" / "ppl_text.txt").read_text(encoding="utf-8")
    document = codec.decode(codec.encode(text)[:1000])
    asks = {
        "doc-qa": f"{document}\n\nQuote the first three sentences of the text above exactly, then summarize it.",
        "code-edit": f"{FUNCTION}\n\nRewrite this function exactly, but rename the variable `scale` to `factor`.",
        "chat": "What are three good habits for learning a new language?",
    }
    return {name: codec.encode_chat([{"role": "user", "content": ask}]) for name, ask in asks.items()}


def run(model, ids: list[int], speculate: bool) -> dict:
    model.runner.reset()
    params = SamplingParams(max_new_tokens=128)
    events = list((speculative_generate if speculate else stream_generate)(model, ids, params))
    last = events[-1]
    return {"ids": [e.token_id for e in events if e.token_id is not None], "decode_tps": last.decode_tps,
            "drafted": last.drafted_tokens, "accepted": last.accepted_tokens}


def copied_share(prompt: list[int], output: list[int], n: int = 4) -> float:
    grams = {tuple(prompt[i : i + n]) for i in range(len(prompt) - n + 1)}
    outs = [tuple(output[i : i + n]) for i in range(len(output) - n + 1)]
    return sum(g in grams for g in outs) / len(outs) if outs else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=str(ROOT / ".hearth-dev/test-home/data/models/SmolLM2-135M-Instruct"))
    args = parser.parse_args()
    model = load_model(args.model, LoadOptions(context_length=2048, threads=2))
    summary: dict[str, dict] = {}
    for name, ids in workloads(model.codec).items():
        plain, spec = [], []
        for round_ in range(args.rounds):
            for speculate in ((False, True) if round_ % 2 == 0 else (True, False)):
                (spec if speculate else plain).append(run(model, ids, speculate))
        p_tps = statistics.median(r["decode_tps"] for r in plain)
        s_tps = statistics.median(r["decode_tps"] for r in spec)
        drafted = sum(r["drafted"] for r in spec)
        accepted = sum(r["accepted"] for r in spec)
        first = next((i for i, (a, b) in enumerate(zip(plain[0]["ids"], spec[0]["ids"])) if a != b), None)
        summary[name] = {
            "prompt_tokens": len(ids), "plain_decode_tps": p_tps, "speculative_decode_tps": s_tps,
            "speedup": s_tps / p_tps, "acceptance_rate": accepted / drafted if drafted else 0.0,
            "accepted_per_reply": accepted / len(spec), "same_tokens": plain[0]["ids"] == spec[0]["ids"],
            "first_difference_at": first, "plain_output_copies_prompt": copied_share(ids, plain[0]["ids"]),
        }
        print(name, json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in summary[name].items()}),
              flush=True)
    out = ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}-speculative.json"
    out.write_text(json.dumps({"rounds": args.rounds, "summary": summary}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
