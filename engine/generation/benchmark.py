"""The benchmark workload (BENCHMARKS.md) and Hearth's side of it.

Prompts are fixed text rendered with the model's chat template, so every engine
gets the same token ids. Decoding is greedy with EOS ignored, exactly N new tokens.

Three cases: the short and long prompts from a cold cache, and a chat turn that follows
a first exchange and finds that exchange still in the KV cache (prefix reuse), so it
prefills only its new tokens. Peak memory is this process's high-water mark (VmHWM), so
one process per configuration gives each its own figure (``hearth-cli bench`` is one).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence

from engine.core.events import SamplingParams
from engine.generation.generate import stream_generate
from engine.runtime.model import LoadedModel

SHORT_QUESTION = "Write a short poem about a warm fire on a cold winter night."

PASSAGE = (
    "The hearth was the centre of the home for most of human history. Before central heating, "
    "before gas stoves and electric light, a single fire did the work of all of them. It cooked "
    "the food, heated the water, dried the clothes and lit the room after dark. Families arranged "
    "their days around it. In the morning someone had to rake the ashes and coax the banked embers "
    "back into flame, and at night someone had to cover them again so that the fire would survive "
    "until dawn. Letting the fire go out was a small disaster, because striking a new one with flint "
    "and steel could take a long time on a damp morning. In many villages a neighbour would carry "
    "glowing coals across the lane in a clay pot to help. The shape of the house followed the fire. "
    "Early halls had an open hearth in the middle of the floor and a hole in the roof for the smoke, "
    "which found its way out slowly and blackened the rafters. Later builders moved the fire against "
    "a wall and added a chimney, which drew the smoke away and let people divide the house into "
    "smaller rooms, each with a fireplace of its own. The chimney changed daily life more than it "
    "might seem: rooms could have ceilings, upper floors became common, and the family no longer had "
    "to sleep together around one fire for warmth. Every fire "
    "brought its own smell, its own soot and its own dangers. House fires were common, and many towns "
    "passed laws requiring stone chimneys and a curfew, from the French words for covering the fire, "
    "after which hearths had to be banked for the night. The hearth also held a place in belief and "
    "custom. Romans honoured Vesta, the goddess of the hearth, whose temple fire was never allowed to "
    "go out. In many cultures a bride was led around the hearth of her new home, and a family that moved "
    "would carry embers from the old fire to light the new one. Stories were told by the fire in winter, "
    "and the word focus itself comes from the Latin for hearth. Today most homes have no open fire at "
    "all, yet people still gather around fireplaces, stoves and even screens that show burning logs, as "
    "if the old habit of sitting together in the warm light has never quite left us."
)
LONG_QUESTION = PASSAGE + "\n\nSummarize the passage above in a few sentences."
FOLLOW_UP = "Now say the same thing again, in plain prose, for a child."

CASES = ("short", "long", "chat")
# (runs done, runs in all, what runs next): one call per timed run, and one before the first.
Progress = Callable[[int, int, str], None]


def prompt_ids(model: LoadedModel, question: str) -> list[int]:
    return model.codec.encode_chat([{"role": "user", "content": question}])


def time_one(model: LoadedModel, ids: Sequence[int], new_tokens: int, cold: bool = True) -> dict:
    """One greedy run of exactly ``new_tokens``; TTFT and decode speed as BENCHMARKS.md defines them."""
    if cold:
        model.runner.reset()
    params = SamplingParams(max_new_tokens=new_tokens, ignore_eos=True)
    tokens: list[int] = []
    last = None
    start = time.perf_counter()
    first = None
    for event in stream_generate(model, ids, params):
        if event.token_id is not None:
            tokens.append(event.token_id)
            if first is None:
                first = time.perf_counter()
        last = event
    end = time.perf_counter()
    assert last is not None and first is not None
    return {
        "ttft_ms": (first - start) * 1000,
        "decode_tps": (len(tokens) - 1) / (end - first) if len(tokens) > 1 else 0.0,
        "prefill_tps": last.prefill_tps or 0.0,
        "tokens": len(tokens),
        "cached_tokens": last.cached_tokens,
        "ids": tokens,
    }


def time_chat_turn(model: LoadedModel, new_tokens: int) -> tuple[list[int], dict]:
    """A first exchange from a cold cache, then a follow-up turn timed on the warm cache.

    Returns the follow-up's prompt ids and its figures; ``cached_tokens`` says how much of
    the first exchange the cache kept.
    """
    first = time_one(model, prompt_ids(model, SHORT_QUESTION), new_tokens)
    reply = model.codec.decode(first["ids"])
    ids = model.codec.encode_chat([{"role": "user", "content": SHORT_QUESTION},
                                   {"role": "assistant", "content": reply},
                                   {"role": "user", "content": FOLLOW_UP}])
    return ids, time_one(model, ids, new_tokens, cold=False)


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MiB (None where the OS won't say)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def run_engine_bench(model: LoadedModel, rounds: int = 5, new_tokens: int = 128,
                     progress: Progress | None = None) -> dict:
    """Medians over ``rounds`` runs of each case (short, long, chat), and the peak memory.

    The keys ``hearth-cli bench`` has always printed come first, in their old order;
    ``prefill_tps``, ``cached_tokens``, the ``chat`` case and ``peak_rss_mb`` follow them.
    """
    result: dict = {"model": model.info.name, "precision": model.info.precision, "provider": model.report.provider}
    total = rounds * len(CASES)
    done = 0
    for name in CASES:
        runs = []
        ids: Sequence[int] = ()
        for round_ in range(rounds):
            if progress is not None:
                progress(done, total, f"{name} prompt, round {round_ + 1}/{rounds}")
            if name == "chat":
                ids, run = time_chat_turn(model, new_tokens)
            else:
                ids = prompt_ids(model, SHORT_QUESTION if name == "short" else LONG_QUESTION)
                run = time_one(model, ids, new_tokens)
            runs.append(run)
            done += 1
        result[name] = {
            "prompt_tokens": len(ids),
            "ttft_ms": statistics.median(r["ttft_ms"] for r in runs),
            "decode_tps": statistics.median(r["decode_tps"] for r in runs),
            "prefill_tps": statistics.median(r["prefill_tps"] for r in runs),
            "cached_tokens": min(r["cached_tokens"] for r in runs),
        }
    if progress is not None:
        progress(done, total, "done")
    result["peak_rss_mb"] = peak_rss_mb()
    return result
