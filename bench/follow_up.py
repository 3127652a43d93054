"""Time to first token of a follow-up question about a 20-page PDF, against the first question's.

    HEARTH_HOME=.hearth-dev/test-home .venv/bin/python bench/follow_up.py [--rounds 5] [--json OUT]

The document is the GPL v3 (tests/data/gpl3.txt) laid out as a 20-page PDF and read by
Hearth's own extractor. Each round, on the default model with the app's default context
(4,096 tokens), 2 threads, greedy, 64 new tokens, and the installed embedder ranking
chunks beside BM25 when it is there:
1. the cache is emptied; the first question is sent with the PDF attached
   (``engine.generation.prompt.compose`` fits the excerpts) and answered;
2. a second question about the same PDF, without attaching it again, is sent after that
   reply: its prompt keeps the first turn as it was and appends only its new excerpts, so
   the cache reuses everything before them;
3. the same second prompt once more on an empty cache, to show what the reuse saves.
The question pairs rotate through tests/data/retrieval_questions.json. Medians over the
rounds; the ratio target is second/first <= 0.2. TTFT is the engine's, from the prompt's
ids to the first token; the time to compose each prompt (retrieval, with the embedder's
vectors cached per document after the first question) is recorded beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's engine, not an installed one

from engine.core.events import LoadOptions, SamplingParams  # noqa: E402
from engine.documents import extract  # noqa: E402
from engine.documents.dense import installed_scorer  # noqa: E402
from engine.generation.generate import stream_generate  # noqa: E402
from engine.generation.prompt import Turn, compose  # noqa: E402
from engine.runtime.model import LoadedModel, load_model  # noqa: E402
from tests.helpers.make_pdf import write_pdf  # noqa: E402

CONTEXT = 4096
THREADS = 2
PARAMS = SamplingParams(temperature=0.0, max_new_tokens=64)
SYSTEM = "You are a helpful assistant."
DEFAULT_MODEL = ROOT / ".hearth-dev/test-home/data/models/SmolLM2-135M-Instruct"
PAGES = 20


def gpl_pdf(folder: Path) -> Path:
    lines = (ROOT / "tests" / "data" / "gpl3.txt").read_text(encoding="utf-8").splitlines()
    per_page = -(-len(lines) // PAGES)
    pages = ["\n".join(lines[i : i + per_page]) for i in range(0, len(lines), per_page)]
    return write_pdf(folder / "gpl3.pdf", pages)


def answer(model: LoadedModel, ids: list[int]) -> tuple[float, int, list[int]]:
    """TTFT in seconds, the tokens the cache already held, and the reply's ids."""
    events = list(stream_generate(model, ids, PARAMS))
    last = events[-1]
    return last.ttft_s, last.cached_tokens, [e.token_id for e in events if e.token_id is not None]


def one_round(model: LoadedModel, doc, first_q: str, second_q: str, dense) -> dict:
    codec = model.codec
    count = lambda text: len(codec.encode(text))  # noqa: E731
    first = [Turn("user", first_q, (doc,))]
    start = time.perf_counter()
    first_ids = codec.encode_chat(compose(SYSTEM, first, count, CONTEXT, PARAMS.max_new_tokens, dense).messages)
    compose_first = time.perf_counter() - start
    model.runner.reset()
    ttft_first, _, reply = answer(model, first_ids)
    turns = first + [Turn("assistant", codec.decode(reply)), Turn("user", second_q)]
    start = time.perf_counter()
    second_ids = codec.encode_chat(compose(SYSTEM, turns, count, CONTEXT, PARAMS.max_new_tokens, dense).messages)
    compose_second = time.perf_counter() - start
    ttft_second, cached, _ = answer(model, second_ids)
    model.runner.reset()
    ttft_cold, _, _ = answer(model, second_ids)
    return {"first_prompt_tokens": len(first_ids), "second_prompt_tokens": len(second_ids), "second_cached": cached,
            "ttft_first_s": ttft_first, "ttft_second_s": ttft_second, "ttft_second_cold_s": ttft_cold,
            "compose_first_s": compose_first, "compose_second_s": compose_second}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--json", help="default bench/results/<date>-follow-up.json")
    args = parser.parse_args()
    model = load_model(args.model, LoadOptions(context_length=CONTEXT, threads=THREADS))
    with tempfile.TemporaryDirectory() as folder:
        doc = extract(gpl_pdf(Path(folder)))
    questions = [q["question"] for q in json.loads((ROOT / "tests/data/retrieval_questions.json").read_text())["questions"]]
    dense = installed_scorer()
    one_round(model, doc, questions[0], questions[1], dense)  # warm-up, not counted
    runs = []
    for n in range(args.rounds):
        first_q, second_q = questions[(2 * n + 2) % len(questions)], questions[(2 * n + 3) % len(questions)]
        runs.append(one_round(model, doc, first_q, second_q, dense))
        r = runs[-1]
        print(f"round {n + 1}: first {r['ttft_first_s']:.2f} s ({r['first_prompt_tokens']} tokens), second "
              f"{r['ttft_second_s']:.2f} s ({r['second_prompt_tokens']} tokens, {r['second_cached']} cached), "
              f"second on an empty cache {r['ttft_second_cold_s']:.2f} s; composing the prompts took "
              f"{r['compose_first_s']:.2f} / {r['compose_second_s']:.2f} s", flush=True)
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    ratio = statistics.median(r["ttft_second_s"] / r["ttft_first_s"] for r in runs)
    print(f"median TTFT: first {med['ttft_first_s']:.2f} s, second {med['ttft_second_s']:.2f} s = {ratio:.3f}x "
          f"(target <= 0.2x); second on an empty cache {med['ttft_second_cold_s']:.2f} s; composing "
          f"{med['compose_first_s']:.2f} / {med['compose_second_s']:.2f} s (outside TTFT); embedder "
          f"{'on' if dense else 'not installed'}")
    result = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "model": args.model, "context": CONTEXT, "threads": THREADS,
              "pages": doc.pages[-1].last, "embedder": dense is not None, "median": med,
              "median_second_over_first": ratio, "runs": runs}
    path = Path(args.json) if args.json else ROOT / "bench" / "results" / f"{dt.date.today().isoformat()}-follow-up.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
