"""Speculative decoding (prompt lookup or a draft model) against plain greedy decoding and onnxruntime-genai, interleaved.

    .venv/bin/python bench/speculative.py [--rounds 5] [--model DIR]              # prompt lookup
    .venv/bin/python bench/speculative.py --model TARGET --draft-model DRAFT      # a draft model proposes
    ... [--json OUT] [--no-genai]

Workloads (greedy, 128 new tokens, EOS allowed, 2 threads, the chat template):
- ``doc-qa``: about 1,000 tokens of tests/data/ppl_text.txt, then a question asking to
  quote and summarize it;
- ``code-edit``: a 60-line Python function and a request to rewrite it with a variable
  renamed;
- ``chat``: a free question with nothing to copy.
Plain, speculative and onnxruntime-genai's plain greedy runs (on the target's folder, its
genai_config.json) rotate order each round, after one warm-up round that is not counted;
medians. For each workload it records decode tok/s (tokens after the first, over the time
from the first to the last token) and wall time from the call to the last token, the
ratios speculative/plain and ours/genai, the acceptance rate, the verification passes per
reply and the drafts accepted per pass (with their histogram), whether speculative output
is the same token for token as plain (and where it first differs), whether genai's ids match
ours, and how much of the plain output copies the prompt (the share of its 4-grams found in
the prompt): prompt lookup can only help where that is high.

With a draft model, the draft also decodes alone (its own greedy reply, same session) so
the cost of one draft step against one target step is recorded: speculation can gain at
most about 1 / (that cost + verification) per accepted token.

Every run is cold: the target's cache (and the draft's) is reset first. A draft model reads
the prompt right after the target does, before the first token, so its prefill shows in
the time to first token (recorded beside decode and wall time), not in the decode rate.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(1, str(ROOT))  # this checkout's engine, not an installed one

from peers import GenaiEngine  # noqa: E402

from engine.core.events import GenerationEvent, LoadOptions, SamplingParams  # noqa: E402
from engine.generation.generate import stream_generate  # noqa: E402
from engine.generation.proposers import DraftModel, PromptLookup, load_draft  # noqa: E402
from engine.generation.speculative import speculative_generate  # noqa: E402
from engine.runtime.model import LoadedModel, load_model  # noqa: E402

NEW_TOKENS = 128
THREADS = 2
CONTEXT = 2048
DEFAULT_MODEL = ROOT / ".hearth-dev/test-home/data/models/SmolLM2-135M-Instruct"

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


def verification_passes(events: list[GenerationEvent]) -> list[tuple[int, int]]:
    """(drafted, accepted) per verification pass of one reply.

    Every pass drafts at least one token, and the events it yields carry the updated
    running counts, so a pass is wherever the drafted count rises (plain steps leave it).
    """
    passes, drafted, accepted = [], 0, 0
    for event in events:
        if event.drafted_tokens != drafted:
            passes.append((event.drafted_tokens - drafted, event.accepted_tokens - accepted))
            drafted, accepted = event.drafted_tokens, event.accepted_tokens
    return passes


def run(model: LoadedModel, ids: list[int], proposer: PromptLookup | DraftModel | None = None) -> dict:
    """One cold greedy reply, plain (no proposer) or speculative."""
    model.runner.reset()
    if isinstance(proposer, DraftModel):
        proposer.model.runner.reset()
    params = SamplingParams(max_new_tokens=NEW_TOKENS)
    start = time.perf_counter()
    stream = stream_generate(model, ids, params) if proposer is None else speculative_generate(model, ids, params, proposer=proposer)
    events = list(stream)
    wall = time.perf_counter() - start
    last = events[-1]
    return {"ids": [e.token_id for e in events if e.token_id is not None], "decode_tps": last.decode_tps or 0.0,
            "ttft_s": last.ttft_s, "wall_s": wall, "drafted": last.drafted_tokens, "accepted": last.accepted_tokens,
            "passes": verification_passes(events), "finish": last.finish_reason}


def run_genai(genai: GenaiEngine, ids: list[int], eos: frozenset[int]) -> dict:
    start = time.perf_counter()
    out, ttft, tps = genai.run(ids, NEW_TOKENS, stop_ids=eos)
    return {"ids": out, "decode_tps": tps, "ttft_s": ttft, "wall_s": time.perf_counter() - start}


def copied_share(prompt: list[int], output: list[int], n: int = 4) -> float:
    grams = {tuple(prompt[i : i + n]) for i in range(len(prompt) - n + 1)}
    outs = [tuple(output[i : i + n]) for i in range(len(output) - n + 1)]
    return sum(g in grams for g in outs) / len(outs) if outs else 0.0


def first_difference(a: list[int], b: list[int]) -> int | None:
    """The first index where two outputs differ (the shorter length if one extends the other); None if equal."""
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def summarize(ids: list[int], samples: dict[str, list[dict]]) -> dict:
    plain, spec = samples["plain"], samples["speculative"]

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    passes = [p for r in spec for p in r["passes"]]
    drafted, accepted = sum(r["drafted"] for r in spec), sum(r["accepted"] for r in spec)
    reference = plain[0]["ids"]
    out = {
        "prompt_tokens": len(ids), "generated_tokens": len(reference),
        "plain_decode_tps": med(plain, "decode_tps"), "speculative_decode_tps": med(spec, "decode_tps"),
        "speedup": _ratio(med(spec, "decode_tps"), med(plain, "decode_tps")),
        "speedup_same_round_pairs": statistics.median(_ratio(s["decode_tps"], p["decode_tps"]) for p, s in zip(plain, spec)),
        "plain_ttft_s": med(plain, "ttft_s"), "speculative_ttft_s": med(spec, "ttft_s"),
        "plain_wall_s": med(plain, "wall_s"), "speculative_wall_s": med(spec, "wall_s"),
        "wall_speedup": _ratio(med(plain, "wall_s"), med(spec, "wall_s")),
        "acceptance_rate": _ratio(accepted, drafted),
        "verification_passes_per_reply": len(passes) / len(spec),
        "accepted_per_pass": _ratio(accepted, len(passes)),
        "drafted_per_pass": _ratio(drafted, len(passes)),
        "accepted_per_pass_histogram": dict(sorted(collections.Counter(a for _, a in passes).items())),
        "accepted_per_reply": accepted / len(spec),
        "same_tokens": all(s["ids"] == reference for s in spec),
        "first_difference_at": first_difference(reference, spec[0]["ids"]),
        "plain_output_stable": all(p["ids"] == reference for p in plain),
        "plain_output_copies_prompt": copied_share(ids, reference),
    }
    alone = samples.get("draft-alone")
    if alone:
        out["draft_alone_decode_tps"] = med(alone, "decode_tps")
        out["draft_step_cost"] = _ratio(out["plain_decode_tps"], out["draft_alone_decode_tps"])
    genai = samples.get("onnxruntime-genai")
    if genai:
        g = med(genai, "decode_tps")
        out.update({
            "genai_decode_tps": g, "genai_wall_s": med(genai, "wall_s"),
            "plain_over_genai": _ratio(out["plain_decode_tps"], g),
            "speculative_over_genai": _ratio(out["speculative_decode_tps"], g),
            "genai_same_ids_as_plain": all(r["ids"] == reference for r in genai),
            "genai_first_difference_at": first_difference(reference, genai[0]["ids"]),
        })
    out["samples"] = {name: [{k: v for k, v in r.items() if k != "ids"} for r in runs] for name, runs in samples.items()}
    return out


def report(name: str, s: dict) -> None:
    d = (f"  draft alone {s['draft_alone_decode_tps']:.1f} tok/s: a draft step costs {s['draft_step_cost']:.2f} of a "
         "target step;" if "draft_step_cost" in s else "")
    g = f"  genai {s['genai_decode_tps']:.1f} (ours/genai plain {s['plain_over_genai']:.2f}x, speculative {s['speculative_over_genai']:.2f}x; same ids {s['genai_same_ids_as_plain']})" if "genai_decode_tps" in s else ""
    print(f"{name} ({s['prompt_tokens']} prompt, {s['generated_tokens']} new): decode plain {s['plain_decode_tps']:.1f}, "
          f"speculative {s['speculative_decode_tps']:.1f} tok/s = {s['speedup']:.2f}x (pairs {s['speedup_same_round_pairs']:.2f}x); "
          f"ttft {s['plain_ttft_s']:.2f} / {s['speculative_ttft_s']:.2f} s; "
          f"wall {s['plain_wall_s']:.2f} / {s['speculative_wall_s']:.2f} s = {s['wall_speedup']:.2f}x;{d}{g}\n"
          f"    acceptance {s['acceptance_rate']:.2f}, {s['verification_passes_per_reply']:.1f} passes/reply, "
          f"{s['accepted_per_pass']:.2f} accepted/pass of {s['drafted_per_pass']:.2f} drafted, histogram {s['accepted_per_pass_histogram']}; "
          f"same tokens {s['same_tokens']} (first difference at {s['first_difference_at']}); copies prompt {s['plain_output_copies_prompt']:.2f}",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="the target model folder")
    parser.add_argument("--draft-model", help="a model folder with the same tokenizer that drafts (default: prompt lookup)")
    parser.add_argument("--no-genai", action="store_true", help="leave onnxruntime-genai out")
    parser.add_argument("--plain-no-spin", action="store_true",
                        help="with --draft-model: plain decoding on the same non-spinning target session too")
    parser.add_argument("--json", help="where to write the results (default bench/results/<date>-speculative-<mode>.json)")
    args = parser.parse_args()
    options = LoadOptions(context_length=CONTEXT, threads=THREADS)
    model = load_model(args.model, options)
    # With a draft, the speculative target is a second session that does not spin, as
    # hearth-cli loads it (see load_draft); plain decoding keeps the spinning default.
    target = load_model(args.model, dataclasses.replace(options, spin=False)) if args.draft_model else model
    proposer = load_draft(args.draft_model, target, options) if args.draft_model else PromptLookup()
    mode = "draft" if args.draft_model else "lookup"
    genai = None if args.no_genai else GenaiEngine(Path(args.model), THREADS, CONTEXT)
    setup = {
        "hearth": f"load_model(LoadOptions(context_length={CONTEXT}, threads={THREADS})): intra-op {THREADS}, inter-op 1; one "
                  "loaded model reused, its cache reset before every run (cold); speculative runs use the same loaded target",
        "proposer": (f"load_draft({args.draft_model}): threads that do not spin, like the speculative target (a second "
                     "session of the target); its cache reset before every run, so it prefills the prompt before "
                     "the first token" if args.draft_model else "PromptLookup()"),
        "onnxruntime-genai": None if genai is None else
        f"og.Model on {args.model}/genai_config.json, CPU, intra-op {THREADS}, inter-op 1 (session_options overlay); model "
        "reused, a fresh og.Generator per run, greedy, max_length = prompt + 128, stops at EOS as ours does",
        "order": "one warm-up round not counted, then the engines rotated each round; medians",
    }
    plain_model = target if args.plain_no_spin else model
    setup["plain"] = "the non-spinning target session" if args.plain_no_spin else "the default (spinning) session"
    runners = {"plain": lambda ids: run(plain_model, ids), "speculative": lambda ids: run(target, ids, proposer)}
    if isinstance(proposer, DraftModel):  # what one draft step costs against one target step
        runners["draft-alone"] = lambda ids: run(proposer.model, ids)
    if genai is not None:
        runners["onnxruntime-genai"] = lambda ids: run_genai(genai, ids, model.eos_ids)
    summary: dict[str, dict] = {}
    for name, ids in workloads(model.codec).items():
        samples: dict[str, list[dict]] = {m: [] for m in runners}
        for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
            order = list(runners)[round_ % len(runners):] + list(runners)[: round_ % len(runners)]
            for m in order:
                result = runners[m](ids)
                if round_:
                    samples[m].append(result)
        summary[name] = summarize(ids, samples)
        report(name, summary[name])
    out = Path(args.json) if args.json else ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}-speculative-{mode}.json"
    result = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "mode": mode, "model": args.model, "draft_model": args.draft_model,
              "rounds": args.rounds, "new_tokens": NEW_TOKENS, "setup": setup, "summary": summary}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
